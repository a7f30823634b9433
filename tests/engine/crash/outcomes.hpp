// What the crash and multi-node tests share: running the worker process, and reading back
// every execution's outcome and history from a store to compare runs.
#pragma once

#include "engine/store/store.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace stepd::engine::crash_test {

using namespace std::chrono_literals;

constexpr int kExecutions = 1000;

inline pid_t spawn_worker(const std::string& url, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {STEPD_CRASH_WORKER, "--store", url, "--executions",
                                   std::to_string(kExecutions)};
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

// Waits for the worker to exit by itself; returns its exit status (-1 on time-out: killed).
inline int wait_worker(pid_t pid, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(50ms);
  }
}

struct Outcome {
  std::string status;
  std::string output;
  std::multiset<std::pair<std::string, std::string>> events;  // (type, details name)
  bool ids_contiguous = true;
  long long event_count = 0;
};

inline std::map<std::string, Outcome> collect(const std::string& url) {
  std::map<std::string, Outcome> out;
  auto store = open_store(url);
  EXPECT_TRUE(store.ok());
  if (!store.ok()) return out;
  const std::string prefix = "arn:aws:states:local:000000000000:execution:mixed:e";
  for (int i = 0; i < kExecutions; ++i) {
    const std::string arn = prefix + std::to_string(i);
    auto rec = (*store)->get_execution(arn);
    if (!rec.ok()) continue;
    Outcome& o = out[arn];
    o.status = rec->status;
    o.output = rec->output.value_or("");
    PageRequest page;
    page.max_results = 1000;
    long long expected_id = 1;
    for (;;) {
      auto h = (*store)->get_history(arn, page, false);
      if (!h.ok()) break;
      for (const HistoryEvent& e : h->items) {
        if (e.id != expected_id++) o.ids_contiguous = false;
        std::string name;
        auto at = e.details.find("\"name\":\"");
        if (at != std::string::npos) {
          auto end = e.details.find('"', at + 8);
          name = e.details.substr(at + 8, end - at - 8);
        }
        o.events.insert({e.type, name});
        ++o.event_count;
      }
      if (h->next_token.empty()) break;
      page.next_token = h->next_token;
    }
  }
  return out;
}

inline void remove_sqlite(const std::string& path) {
  for (const char* s : {"", "-wal", "-shm"}) std::filesystem::remove(path + s);
}

// Every execution of `actual_url` must end as in `reference_url`: same status and output, the
// same history events (type and state name, in any order) and contiguous event ids.
inline void expect_same_outcomes(const std::string& reference_url, const std::string& crash_url) {
  auto expected = collect(reference_url);
  auto actual = collect(crash_url);
  ASSERT_EQ(expected.size(), static_cast<std::size_t>(kExecutions));
  ASSERT_EQ(actual.size(), static_cast<std::size_t>(kExecutions));
  int mismatches = 0;
  for (const auto& [arn, want] : expected) {
    const Outcome& got = actual[arn];
    EXPECT_EQ(want.status, "SUCCEEDED") << arn;
    if (got.status != want.status || got.output != want.output || got.events != want.events ||
        !got.ids_contiguous) {
      if (++mismatches <= 5) {
        ADD_FAILURE() << arn << ": status " << got.status << " vs " << want.status
                      << ", output " << got.output << " vs " << want.output << ", events "
                      << got.event_count << " vs " << want.event_count
                      << (got.ids_contiguous ? "" : ", ids not contiguous");
      }
    }
  }
  EXPECT_EQ(mismatches, 0);
}

}  // namespace stepd::engine::crash_test
