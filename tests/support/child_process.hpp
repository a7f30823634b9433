// Starting other programs from a test: a shell command run to its end (run_command), or a child
// process spawned by path with chosen arguments, environment and standard streams (spawn_child),
// which the caller then waits for or kills by the PID it returns.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

extern char** environ;

namespace stepd::test {

// Runs `command` with /bin/sh; returns its exit status (-1 when it could not run or was killed by
// a signal) and sets `output` to what it wrote to stdout and stderr.
inline int run_command(const std::string& command, std::string& output) {
  output.clear();
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return -1;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) output.append(buf, n);
  const int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The test's own environment ("NAME=value" entries) without the variables `drop` names and
// without those `extra` sets, followed by `extra`'s variables.
inline std::vector<std::string> child_environment(
    const std::map<std::string, std::string>& extra,
    const std::function<bool(const std::string& name)>& drop) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const std::string name = entry.substr(0, entry.find('='));
    if (drop(name) || extra.count(name) > 0) continue;
    env.push_back(entry);
  }
  for (const auto& [name, value] : extra) env.push_back(name + "=" + value);
  return env;
}

// How spawn_child starts a child. A stream whose path is empty is the test's own.
struct ChildOptions {
  std::optional<std::vector<std::string>> env;  // "NAME=value" entries; nullopt: the test's own
  std::filesystem::path stdin_path;             // opened for reading
  std::filesystem::path stdout_path;            // created or truncated
  std::filesystem::path stderr_path;            // created or truncated
  bool stderr_to_stdout = false;                // stderr goes where stdout goes
  bool default_signals = false;  // no signal blocked; SIGTERM, SIGINT, SIGPIPE at their defaults
};

// A spawned child: its PID, or -1 and why posix_spawn failed.
struct SpawnedChild {
  pid_t pid = -1;
  std::string error;  // "posix_spawn <program>: <reason>" when pid is -1
};

// Spawns the program at path args[0] (not looked up in PATH) with arguments `args`.
// REQUIRES: !args.empty(). The caller reaps the child (waitpid) by the PID returned.
inline SpawnedChild spawn_child(std::vector<std::string> args, const ChildOptions& options = {}) {
  std::vector<std::string> env = options.env.value_or(std::vector<std::string>{});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  constexpr int kWrite = O_WRONLY | O_CREAT | O_TRUNC;
  if (!options.stdin_path.empty()) {
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, options.stdin_path.c_str(), O_RDONLY,
                                     0);
  }
  if (!options.stdout_path.empty()) {
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, options.stdout_path.c_str(), kWrite,
                                     0644);
  }
  if (!options.stderr_path.empty()) {
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, options.stderr_path.c_str(), kWrite,
                                     0644);
  }
  if (options.stderr_to_stdout) {
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  }
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  if (options.default_signals) {
    sigset_t empty;
    sigemptyset(&empty);
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigmask(&attr, &empty);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  }
  SpawnedChild child;
  const int rc = ::posix_spawn(&child.pid, argv[0], &actions, &attr, argv.data(),
                               options.env ? envp.data() : environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    child.pid = -1;
    child.error = "posix_spawn " + args[0] + ": " + std::strerror(rc);
  }
  return child;
}

}  // namespace stepd::test
