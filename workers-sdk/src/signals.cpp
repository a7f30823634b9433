#include "signals.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <stdexcept>
#include <system_error>

namespace stepd::worker::detail {

namespace {

int g_pipe[2] = {-1, -1};
std::atomic<bool> g_in_use{false};
struct sigaction g_old_term;
struct sigaction g_old_int;

extern "C" void on_signal(int signal) {
  const int saved = errno;
  const unsigned char byte = static_cast<unsigned char>(signal);
  [[maybe_unused]] const ssize_t n = ::write(g_pipe[1], &byte, 1);
  errno = saved;
}

}  // namespace

SignalWait::SignalWait() {
  if (g_in_use.exchange(true)) {
    throw std::logic_error("stepd::worker: only one run_until_signal() at a time");
  }
  if (::pipe2(g_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    g_in_use = false;
    throw std::system_error(errno, std::generic_category(), "pipe2");
  }
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  ::sigaction(SIGTERM, &action, &g_old_term);
  ::sigaction(SIGINT, &action, &g_old_int);
}

SignalWait::~SignalWait() {
  ::sigaction(SIGTERM, &g_old_term, nullptr);
  ::sigaction(SIGINT, &g_old_int, nullptr);
  ::close(g_pipe[0]);
  ::close(g_pipe[1]);
  g_pipe[0] = g_pipe[1] = -1;
  g_in_use = false;
}

int SignalWait::wait() {
  for (;;) {
    pollfd p{};
    p.fd = g_pipe[0];
    p.events = POLLIN;
    const int r = ::poll(&p, 1, -1);
    if (r < 0 && errno == EINTR) continue;
    unsigned char byte = 0;
    const ssize_t n = ::read(g_pipe[0], &byte, 1);
    if (n == 1) return byte;  // 0 is wake()
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    return 0;
  }
}

void SignalWait::wake() {
  const unsigned char byte = 0;
  [[maybe_unused]] const ssize_t n = ::write(g_pipe[1], &byte, 1);
}

}  // namespace stepd::worker::detail
