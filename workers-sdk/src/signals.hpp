// Internal: waiting for SIGTERM/SIGINT without doing anything unsafe in a signal handler. The
// handler only writes the signal number to a pipe; wait() reads it on an ordinary thread.
//
// Threads: one SignalWait at a time in a process (a second one throws std::logic_error). wait() on
// one thread, wake() from any.
#pragma once

namespace stepd::worker::detail {

class SignalWait {
 public:
  // Installs handlers for SIGTERM and SIGINT; throws std::system_error when it cannot.
  SignalWait();
  // Restores the handlers that were there before.
  ~SignalWait();
  SignalWait(const SignalWait &) = delete;
  SignalWait &operator=(const SignalWait &) = delete;

  // Blocks until a signal arrives (returns its number) or wake() is called (returns 0).
  int wait();
  void wake();
};

}  // namespace stepd::worker::detail
