// The threads an in-process test transport completes tasks on: a TaskTransport's dispatch()
// must not block, so the work that answers a task runs on a thread of its own.
#pragma once

#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace stepd::test {

// Thread-safe. The destructor joins every thread still running.
class CompletionThreads {
 public:
  CompletionThreads() = default;
  ~CompletionThreads() { join(); }
  CompletionThreads(const CompletionThreads&) = delete;
  CompletionThreads& operator=(const CompletionThreads&) = delete;

  // Runs `work` on a new thread.
  void run(std::function<void()> work) {
    std::lock_guard lock(mu_);
    threads_.emplace_back(std::move(work));
  }

  // Waits for the threads started so far (one that starts meanwhile is joined by the next call).
  void join() {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
  }

 private:
  std::mutex mu_;
  std::vector<std::thread> threads_;
};

}  // namespace stepd::test
