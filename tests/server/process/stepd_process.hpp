// Runs the real `stepd` binary for a test, on a free port and a private SQLite file.
//
//   stepd::test::StepdProcess stepd;
//   ASSERT_TRUE(stepd.start()) << stepd.log();
//   auto r = stepd::test::http_request(stepd.port(), "GET", "/healthz");
//   ...
//   EXPECT_EQ(stepd.stop(), 0);     // SIGTERM, waits for the exit, returns the exit code
//
// metric(port, series) reads one sample of its /metrics.
//
// start() spawns STEPD_PATH (a compile definition of the server test targets) with
// `--listen 127.0.0.1:0 --store sqlite:<temp dir>/stepd.db`, reads the port from the JSON
// "listening" line stepd logs when ready, and waits until GET /healthz answers 200. start()
// again after stop() restarts on the same store (a restart test). stdout and stderr go to a log
// file in the temp dir (log() reads it: put it in assertion messages). The destructor kills a
// still-running stepd with SIGKILL (by its PID only) and removes the temp dir.
//
// start(StepdOptions) adds flags (e.g. {"--api-keys-file", path}), environment variables, another
// store URL or listen address, or returns at once (wait_ready = false) to check a failed start
// with wait_exit() and log(). dir() is the temp dir, for files a test writes (keys, config).
//
// The child's environment is the test's minus every STEPD_* variable (STEPD_TEST_* kept), plus
// StepdOptions::env, so a developer's settings do not leak into tests.
#pragma once

#include "tests/server/process/http_client.hpp"
#include "tests/support/child_process.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace stepd::test {

#ifdef STEPD_PATH
inline constexpr const char* kStepdPath = STEPD_PATH;
#else
inline constexpr const char* kStepdPath = "stepd";
#endif

// How to start stepd (StepdProcess::start).
struct StepdOptions {
  std::vector<std::string> args;           // more flags, after the defaults (they win)
  std::map<std::string, std::string> env;  // more environment variables
  std::string store;                       // "" : sqlite:<temp dir>/stepd.db
  std::string listen = "127.0.0.1:0";      // "" : no --listen flag at all
  bool wait_ready = true;  // false: return right after spawning (e.g. to expect a failure)
  std::chrono::milliseconds timeout{30'000};  // for becoming ready
};

class StepdProcess {
 public:
  using Options = StepdOptions;

  StepdProcess() {
    static std::atomic<int> counter{0};
    dir_ = std::filesystem::temp_directory_path() /
           ("stepd-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  ~StepdProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  StepdProcess(const StepdProcess&) = delete;
  StepdProcess& operator=(const StepdProcess&) = delete;

  // Spawns stepd and (unless !wait_ready) waits until it serves /healthz. False when it exits
  // or does not become ready in time (see log()).
  bool start() { return start(Options()); }
  bool start(Options options) {
    if (pid_ > 0) return false;
    ++runs_;
    log_path_ = dir_ / ("stepd-" + std::to_string(runs_) + ".log");
    if (store_.empty()) {
      store_ = options.store.empty() ? "sqlite:" + (dir_ / "stepd.db").string() : options.store;
    }
    port_ = 0;

    std::vector<std::string> args = {kStepdPath};
    if (!options.listen.empty()) {
      args.push_back("--listen");
      args.push_back(options.listen);
    }
    args.push_back("--store");
    args.push_back(options.store.empty() ? store_ : options.store);
    args.insert(args.end(), options.args.begin(), options.args.end());

    ChildOptions child_options;
    child_options.env = child_environment(options.env, [](const std::string& name) {
      return name.rfind("STEPD_", 0) == 0 && name.rfind("STEPD_TEST_", 0) != 0;
    });
    child_options.stdout_path = log_path_;
    child_options.stderr_to_stdout = true;
    child_options.default_signals = true;
    const SpawnedChild child = spawn_child(std::move(args), child_options);
    if (child.pid < 0) {
      spawn_error_ = child.error;
      return false;
    }
    pid_ = child.pid;
    exit_code_.reset();
    if (!options.wait_ready) return true;
    return wait_ready(options.timeout);
  }

  // Waits for the "listening" log line and a 200 from /healthz.
  bool wait_ready(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (!running()) return false;
      if (port_ == 0) port_ = port_from_log();
      if (port_ != 0) {
        HttpReply r = http_request(port_, "GET", "/healthz", "", {}, std::chrono::seconds(2));
        if (r.status == 200) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  // Sends `signal` and waits for the exit: the exit code (128 + n when killed by signal n), or
  // -1 when it did not exit within `timeout` (it is then killed with SIGKILL).
  int stop(int signal = SIGTERM, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    if (pid_ <= 0) return exit_code_.value_or(-1);
    ::kill(pid_, signal);
    return wait_exit(timeout);
  }

  // Waits for stepd to exit by itself; as stop() otherwise.
  int wait_exit(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    if (pid_ <= 0) return exit_code_.value_or(-1);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (running()) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        exit_code_ = -1;
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return exit_code_.value_or(-1);
  }

  // Still running (reaps it when it has exited).
  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == 0) return true;
    if (r == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    } else {
      exit_code_ = -1;
    }
    pid_ = -1;
    return false;
  }

  unsigned short port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::string& store_url() const { return store_; }
  const std::filesystem::path& dir() const { return dir_; }

  // Everything the current (or last) run wrote to stdout and stderr.
  std::string log() const {
    if (!spawn_error_.empty()) return spawn_error_;
    std::ifstream in(log_path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  // The first log line whose "msg" is `msg` ("" when none yet).
  std::string log_line(const std::string& msg) const {
    std::istringstream in(log());
    std::string line;
    const std::string needle = "\"msg\":\"" + msg + "\"";
    while (std::getline(in, line)) {
      if (line.find(needle) != std::string::npos) return line;
    }
    return "";
  }

 private:
  unsigned short port_from_log() const {
    const std::string line = log_line("listening");
    const auto at = line.find("\"port\":");
    if (at == std::string::npos) return 0;
    return static_cast<unsigned short>(std::atoi(line.c_str() + at + 7));
  }

  std::filesystem::path dir_;
  std::filesystem::path log_path_;
  std::string store_;
  std::string spawn_error_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  unsigned short port_ = 0;
  int runs_ = 0;
};

// The value of the sample `series` (a name with its labels, as /metrics writes it) in the
// /metrics text of the stepd on `port`; -1 when absent.
inline double metric(unsigned short port, const std::string& series) {
  const HttpReply r = http_request(port, "GET", "/metrics");
  const std::string needle = "\n" + series + " ";
  const auto at = r.body.find(needle);
  if (at == std::string::npos) return -1;
  return std::stod(r.body.substr(at + needle.size()));
}

}  // namespace stepd::test
