// Helpers for benchmarks that drive a real `stepd` process (load_bench, dispatch_bench):
//
//  - grouped(), fixed(): numbers for tables ("12,345", "1.23").
//  - percentile(): the q-quantile of sorted samples (nearest rank).
//  - cpu_seconds(pid), machine_busy_seconds(), load_average(): where the CPU time went, from
//    /proc (user + system ticks), and the machine's 1-minute load average.
//  - fdatasync_ms(dir): how long one small durable write takes the disk right now.
//  - metric_sum(): the sum of the /metrics samples of one name whose labels include given
//    `label="value"` pairs (Prometheus text format as stepd serves it).
//  - ScratchSchema: a PostgreSQL schema of its own for one run, dropped before and after.
//  - postmaster_pid(), process_tree_cpu_seconds(): a local PostgreSQL server's processes and the
//    CPU time they used; connection_ports() and backends_of(): the backends serving one client
//    process (a shared server also serves other work).
//  - perf_record_args(), spawn_logged(): a `perf record` command line, and starting a command
//    with its output in a log file; PerfRecording: `perf record` attached to a process for the
//    time the object lives.
//
// Everything is header-only and needs libpq (PostgreSQL::PostgreSQL) for ScratchSchema and
// postmaster_pid(). Not thread-safe unless said: call from the benchmark's main thread.
#pragma once

#include <fcntl.h>
#include <postgresql/libpq-fe.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

extern char** environ;

namespace stepd::bench {

// 1234567.4 -> "1,234,567".
inline std::string grouped(double value) {
  const long long n = std::llround(value);
  const std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return n < 0 ? "-" + out : out;
}

inline std::string fixed(double value, int decimals = 1) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

// The q-quantile (0 < q <= 1) of `sorted` (ascending numbers) by nearest rank; 0 for no samples.
template <class Number>
double percentile(const std::vector<Number>& sorted, double q) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return static_cast<double>(sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)]);
}

// CPU seconds (user + system) process `pid` has used so far, its threads included; 0 when it
// is gone.
inline double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto name_end = text.rfind(')');  // the command name may hold spaces
  if (name_end == std::string::npos || name_end + 2 > text.size()) return 0;
  std::istringstream fields(text.substr(name_end + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; fields >> field && i <= 15; ++i) {  // fields 14 utime, 15 stime
    if (i >= 14) ticks += std::strtod(field.c_str(), nullptr);
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// CPU seconds all cores have spent busy since boot (everything but idle and iowait), from the
// first line of /proc/stat.
inline double machine_busy_seconds() {
  std::ifstream in("/proc/stat");
  std::string label;
  in >> label;
  double busy = 0;
  double value = 0;
  for (int i = 0; i < 8 && in >> value; ++i) {
    if (i != 3 && i != 4) busy += value;
  }
  return busy / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// The 1-minute load average (the first figure of /proc/loadavg).
inline double load_average() {
  std::ifstream in("/proc/loadavg");
  double one = 0;
  in >> one;
  return one;
}

// The sum of the values of the samples of metric `name` in `text` (Prometheus exposition) whose
// label set contains every string of `labels` (each `key="value"`); 0 when none matches.
inline double metric_sum(const std::string& text, const std::string& name,
                         const std::vector<std::string>& labels = {}) {
  std::istringstream in(text);
  double total = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.size() <= name.size() || line.compare(0, name.size(), name) != 0) continue;
    const char next = line[name.size()];
    if (next != '{' && next != ' ') continue;
    const bool all = std::all_of(labels.begin(), labels.end(), [&](const std::string& l) {
      return line.find(l) != std::string::npos;
    });
    if (!all) continue;
    total += std::strtod(line.c_str() + line.rfind(' ') + 1, nullptr);
  }
  return total;
}

// The median time, in milliseconds, of writing 8 KiB to a scratch file in `dir` and
// fdatasync()ing it, over `seconds` (at least 20 rounds): what one durable commit costs the disk
// right now (other work on a shared disk makes it vary by 10x and more). -1 when the file cannot
// be written.
inline double fdatasync_ms(const std::filesystem::path& dir, double seconds = 0.3) {
  const std::filesystem::path file = dir / ("fdatasync-probe-" + std::to_string(::getpid()));
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return -1;
  const std::string block(8192, 'x');
  std::vector<double> samples;
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (samples.size() < 20 || std::chrono::steady_clock::now() < until) {
    const auto began = std::chrono::steady_clock::now();
    if (::pwrite(fd, block.data(), block.size(), 0) != static_cast<ssize_t>(block.size()) ||
        ::fdatasync(fd) != 0) {
      samples.clear();
      break;
    }
    samples.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - began)
            .count());
    if (samples.size() >= 5000) break;
  }
  ::close(fd);
  std::error_code ignored;
  std::filesystem::remove(file, ignored);
  if (samples.empty()) return -1;
  std::sort(samples.begin(), samples.end());
  return percentile(samples, 0.5);
}

// A schema of its own on a PostgreSQL server (`server` is a libpq URL without ?schema), dropped
// (CASCADE) when constructed and when destroyed; url() is `server` with ?schema=NAME for stepd.
class ScratchSchema {
 public:
  ScratchSchema(std::string server, std::string name)
      : server_(std::move(server)), name_(std::move(name)) {
    drop();
    url_ = server_ + (server_.find('?') == std::string::npos ? "?" : "&") + "schema=" + name_;
  }
  ~ScratchSchema() { drop(); }
  ScratchSchema(const ScratchSchema&) = delete;
  ScratchSchema& operator=(const ScratchSchema&) = delete;

  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }

 private:
  void drop() {
    PGconn* pg = PQconnectdb(server_.c_str());
    if (PQstatus(pg) == CONNECTION_OK) {
      PQsetNoticeProcessor(
          pg, [](void*, const char*) {}, nullptr);
      PQclear(PQexec(pg, ("DROP SCHEMA IF EXISTS \"" + name_ + "\" CASCADE").c_str()));
    }
    PQfinish(pg);
  }

  std::string server_;
  std::string name_;
  std::string url_;
};

// The parent process id of `pid` (field 4 of /proc/PID/stat); -1 when it is gone.
inline pid_t parent_pid(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto name_end = text.rfind(')');
  if (name_end == std::string::npos || name_end + 2 > text.size()) return -1;
  std::istringstream fields(text.substr(name_end + 2));
  std::string state;
  pid_t ppid = -1;
  fields >> state >> ppid;
  return ppid;
}

// CPU seconds used so far by process `root` and its direct children (for a PostgreSQL server:
// the postmaster, its backends and background processes). A child that was born since an
// earlier call counts whole; one that has exited since no longer counts (rare for a server).
inline double process_tree_cpu_seconds(pid_t root) {
  if (root <= 0) return 0;
  double total = cpu_seconds(root);
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(),
                                     [](unsigned char c) { return std::isdigit(c) != 0; }))
      continue;
    const pid_t pid = std::atoi(name.c_str());
    if (parent_pid(pid) == root) total += cpu_seconds(pid);
  }
  return total;
}

// The postmaster of the PostgreSQL server at `server` (a libpq URL): the parent of this
// connection's backend. -1 when the server cannot be reached or is not on this machine.
inline pid_t postmaster_pid(const std::string& server) {
  pid_t backend = -1;
  PGconn* pg = PQconnectdb(server.c_str());
  if (PQstatus(pg) == CONNECTION_OK) backend = PQbackendPID(pg);
  const pid_t parent = backend > 0 ? parent_pid(backend) : -1;
  PQfinish(pg);
  return parent;
}

// The local TCP ports of the connections process `pid` has open to `remote_port` (IPv4, from
// /proc/PID/fd and /proc/PID/net/tcp); e.g. a stepd's connections to its PostgreSQL server.
inline std::vector<int> connection_ports(pid_t pid, int remote_port) {
  std::vector<std::string> inodes;
  std::error_code ec;
  const std::filesystem::path fds = "/proc/" + std::to_string(pid) + "/fd";
  for (const auto& fd : std::filesystem::directory_iterator(fds, ec)) {
    const std::string target = std::filesystem::read_symlink(fd.path(), ec).string();
    if (!ec && target.rfind("socket:[", 0) == 0) {
      inodes.push_back(target.substr(8, target.size() - 9));
    }
  }
  std::vector<int> ports;
  std::ifstream tcp("/proc/" + std::to_string(pid) + "/net/tcp");
  std::string line;
  std::getline(tcp, line);  // the header
  while (std::getline(tcp, line)) {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
    std::istringstream f(line);
    std::string sl, local, remote, st, queues, timer, retransmits, uid, timeout, inode;
    if (!(f >> sl >> local >> remote >> st >> queues >> timer >> retransmits >> uid >> timeout >>
          inode)) {
      continue;
    }
    const auto remote_colon = remote.find(':');
    const auto local_colon = local.find(':');
    if (remote_colon == std::string::npos || local_colon == std::string::npos) continue;
    if (std::stoi(remote.substr(remote_colon + 1), nullptr, 16) != remote_port) continue;
    if (std::find(inodes.begin(), inodes.end(), inode) == inodes.end()) continue;
    ports.push_back(std::stoi(local.substr(local_colon + 1), nullptr, 16));
  }
  return ports;
}

// The backends of the PostgreSQL server at `server` that serve connections from `client_ports`
// (pg_stat_activity.client_port); empty when unreachable.
inline std::vector<pid_t> backends_of(const std::string& server,
                                      const std::vector<int>& client_ports) {
  std::vector<pid_t> pids;
  if (client_ports.empty()) return pids;
  PGconn* pg = PQconnectdb(server.c_str());
  if (PQstatus(pg) == CONNECTION_OK) {
    PGresult* r = PQexec(pg, "SELECT pid, client_port FROM pg_stat_activity");
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
      for (int i = 0; i < PQntuples(r); ++i) {
        if (PQgetisnull(r, i, 1)) continue;
        const int port = std::atoi(PQgetvalue(r, i, 1));
        if (std::find(client_ports.begin(), client_ports.end(), port) != client_ports.end()) {
          pids.push_back(std::atoi(PQgetvalue(r, i, 0)));
        }
      }
    }
    PQclear(r);
  }
  PQfinish(pg);
  return pids;
}

// `perf record ARGS -p PID -o FILE` as an argument vector; `args` is split at spaces.
inline std::vector<std::string> perf_record_args(pid_t target, const std::filesystem::path& file,
                                                 const std::string& args) {
  std::vector<std::string> argv = {"perf", "record"};
  std::istringstream split(args);
  for (std::string a; split >> a;) argv.push_back(a);
  argv.insert(argv.end(), {"-p", std::to_string(target), "-o", file.string()});
  return argv;
}

// Starts `args` (args[0] looked up on PATH) with its stdout and stderr written to `log`
// (created or truncated). Its process id, or -1 with `error` set ("cannot start perf: ...").
inline pid_t spawn_logged(std::vector<std::string> args, const std::string& log,
                          std::string& error) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    error = "cannot start " + args[0] + ": " + std::strerror(rc);
    return -1;
  }
  return pid;
}

// `perf record ARGS -p PID -o FILE` from construction to stop() (or destruction): SIGINT ends the
// recording and perf writes FILE. perf's own output goes to FILE.log. ok() is false (and
// error() says why) when perf could not be started; the benchmark goes on without it.
class PerfRecording {
 public:
  PerfRecording(pid_t target, const std::filesystem::path& file, const std::string& args) {
    std::error_code ignored;
    std::filesystem::create_directories(file.parent_path(), ignored);
    pid_ = spawn_logged(perf_record_args(target, file, args), file.string() + ".log", error_);
  }
  ~PerfRecording() { stop(); }
  PerfRecording(const PerfRecording&) = delete;
  PerfRecording& operator=(const PerfRecording&) = delete;

  bool ok() const { return pid_ > 0; }
  const std::string& error() const { return error_; }

  // Ends the recording (SIGINT to the perf process this object started) and waits for perf to
  // write its file.
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGINT);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  std::string error_;
};

}  // namespace stepd::bench
