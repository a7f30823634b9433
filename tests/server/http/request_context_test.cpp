// RequestContext: what a handler whose answer waits (a long poll) learns about its connection:
// the client going away (cancellation) and whether its answer was written. Through the real HTTP
// server on loopback with a handler that holds its answers until the test releases them.
#include "server/http/message.hpp"

#include "server/http/server.hpp"
#include "tests/server/process/http_client.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

namespace stepd::server {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// --- The context alone --------------------------------------------------------------------------

TEST(RequestContextTest, CallbacksRunOnceAndLateOnesAtOnce) {
  RequestContext c;
  int cancels = 0;
  std::vector<bool> written;
  c.on_cancel([&] { ++cancels; });
  c.on_written([&](bool w) { written.push_back(w); });
  EXPECT_FALSE(c.cancelled());
  EXPECT_FALSE(c.abandoned());
  c.client_gone();
  EXPECT_EQ(cancels, 1);
  EXPECT_TRUE(c.cancelled());
  EXPECT_TRUE(c.abandoned());  // a handler asked: the answer is not to be written
  c.client_gone();
  EXPECT_EQ(cancels, 1);
  // Asked after the client went away: at once.
  c.on_cancel([&] { cancels += 10; });
  EXPECT_EQ(cancels, 11);
  EXPECT_TRUE(written.empty());
  c.settle(false);
  c.settle(true);  // the first call counts
  EXPECT_EQ(written, std::vector<bool>{false});
  c.on_written([&](bool w) { written.push_back(w); });
  EXPECT_EQ(written, (std::vector<bool>{false, false}));
}

TEST(RequestContextTest, NoCancellationOnceTheAnswerIsWritten) {
  RequestContext c;
  int cancels = 0;
  c.on_cancel([&] { ++cancels; });
  c.settle(true);
  c.client_gone();
  EXPECT_EQ(cancels, 0);
  EXPECT_FALSE(c.cancelled());
  c.on_cancel([&] { ++cancels; });
  EXPECT_EQ(cancels, 0);
  bool written = false;
  c.on_written([&](bool w) { written = w; });
  EXPECT_TRUE(written);
}

TEST(RequestContextTest, OnlyACancellableRequestIsAbandoned) {
  RequestContext c;
  c.client_gone();
  EXPECT_TRUE(c.cancelled());
  EXPECT_FALSE(c.abandoned());  // nobody asked: the answer is still written
}

TEST(RequestContextTest, AnAnswerNeverSettledCountsAsNotWritten) {
  std::optional<bool> written;
  {
    RequestContext c;
    c.on_written([&](bool w) { written = w; });
  }
  EXPECT_EQ(written, std::optional<bool>(false));
}

// --- Through the server -------------------------------------------------------------------------

// Holds every request's Respond until the test answers it. ?cancel=1 asks on_cancel; every
// request asks on_written. What the callbacks saw is kept per request, in arrival order.
class HoldingHandler final : public Handler {
 public:
  struct Held {
    Respond respond;
    std::shared_ptr<RequestContext> context;
    int cancels = 0;
    std::optional<bool> written;
  };

  void handle(HttpRequest request, Caller caller, Respond respond) override {
    std::size_t i = 0;
    {
      std::lock_guard lock(mu_);
      i = held_.size();
      held_.push_back(Held{std::move(respond), caller.context, 0, std::nullopt});
    }
    // The callbacks hold the handler, never the context (the context holds them).
    if (request.query.find("cancel=1") != std::string::npos) {
      caller.context->on_cancel([this, i] { update([&](Held& h) { ++h.cancels; }, i); });
    }
    caller.context->on_written([this, i](bool w) { update([&](Held& h) { h.written = w; }, i); });
    cv_.notify_all();
  }

  // Waits until request `i` satisfies `pred` (false after `timeout`). Woken by the callbacks,
  // and every 5 ms for what only the context knows (cancelled() with no on_cancel asked).
  template <class Pred>
  bool wait(std::size_t i, Pred pred, std::chrono::milliseconds timeout = 3s) {
    const auto deadline = Clock::now() + timeout;
    std::unique_lock lock(mu_);
    for (;;) {
      if (held_.size() > i && pred(held_[i])) return true;
      if (Clock::now() >= deadline) return false;
      cv_.wait_for(lock, 5ms);
    }
  }
  bool wait_request(std::size_t i) {
    return wait(i, [](const Held&) { return true; });
  }
  Held snapshot(std::size_t i) {
    std::lock_guard lock(mu_);
    return held_.at(i);
  }
  void answer(std::size_t i, const std::string& body) {
    Respond respond;
    {
      std::lock_guard lock(mu_);
      respond = held_.at(i).respond;
    }
    respond(HttpResponse{200, "application/json", {}, body});
  }
  // Drops what the handler holds (its Responds and contexts) before the server goes.
  void clear() {
    std::deque<Held> drop;
    std::lock_guard lock(mu_);
    drop.swap(held_);
  }

 private:
  template <class Fn>
  void update(Fn fn, std::size_t i) {
    {
      std::lock_guard lock(mu_);
      fn(held_.at(i));
    }
    cv_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Held> held_;
};

// A plain socket that can half-close (shutdown(SHUT_WR)) and read what comes back.
class PlainSocket {
 public:
  ~PlainSocket() { close(); }
  bool connect(unsigned short port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return fd_ >= 0 && ::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  }
  bool send(const std::string& bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }
  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }
  // Everything received until the peer closes (or `timeout` passes: then nullopt).
  std::optional<std::string> read_to_end(std::chrono::milliseconds timeout) {
    std::string out;
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return out;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

class RequestContextServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.port = 0;
    options.io_threads = 2;
    server_ = std::make_unique<HttpServer>(options, handler_);
    engine::Status s = server_->start();
    ASSERT_TRUE(s.ok()) << s.error().message;
  }
  void TearDown() override {
    if (server_) server_->stop(0ms);
    handler_.clear();
  }
  unsigned short port() const { return server_->port(); }

  HoldingHandler handler_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(RequestContextServerTest, ClientClosingCancelsAPendingRequestAndItsAnswerIsNotWritten) {
  test::TestConnection c;
  ASSERT_TRUE(c.connect(port()));
  ASSERT_TRUE(c.send(test::format_request("GET", "/poll?cancel=1")));
  ASSERT_TRUE(handler_.wait_request(0));
  EXPECT_EQ(handler_.snapshot(0).cancels, 0);
  const auto closed = Clock::now();
  c.close();
  ASSERT_TRUE(handler_.wait(0, [](const auto& h) { return h.cancels > 0; }))
      << "the handler did not hear that the client went away";
  EXPECT_LT(Clock::now() - closed, 1s);
  EXPECT_TRUE(handler_.snapshot(0).context->cancelled());
  EXPECT_FALSE(handler_.snapshot(0).written.has_value());  // the handler has not answered yet
  handler_.answer(0, R"({"late":true})");
  ASSERT_TRUE(handler_.wait(0, [](const auto& h) { return h.written.has_value(); }));
  EXPECT_EQ(handler_.snapshot(0).written, std::optional<bool>(false));
  EXPECT_EQ(handler_.snapshot(0).cancels, 1);
}

TEST_F(RequestContextServerTest, AnAnswerHandedToTheConnectionIsReportedWritten) {
  test::TestConnection c;
  ASSERT_TRUE(c.connect(port()));
  ASSERT_TRUE(c.send(test::format_request("GET", "/poll?cancel=1")));
  ASSERT_TRUE(handler_.wait_request(0));
  handler_.answer(0, R"({"n":1})");
  auto r = c.read_response(5s);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, R"({"n":1})");
  ASSERT_TRUE(handler_.wait(0, [](const auto& h) { return h.written.has_value(); }));
  EXPECT_EQ(handler_.snapshot(0).written, std::optional<bool>(true));
  // Closing the connection after the answer cancels nothing.
  ASSERT_TRUE(c.send(test::format_request("GET", "/next")));
  ASSERT_TRUE(handler_.wait_request(1));
  c.close();
  ASSERT_TRUE(handler_.wait(1, [](const auto& h) { return h.context->cancelled(); }));
  EXPECT_EQ(handler_.snapshot(0).cancels, 0);
  EXPECT_EQ(handler_.snapshot(0).written, std::optional<bool>(true));
}

TEST_F(RequestContextServerTest, AHalfClosedPeerGetsTheAnswersOfRequestsThatAreNotCancellable) {
  PlainSocket s;
  ASSERT_TRUE(s.connect(port()));
  ASSERT_TRUE(s.send(test::format_request("GET", "/plain")));
  ASSERT_TRUE(handler_.wait_request(0));
  s.shutdown_write();
  // The server sees the end of the stream: the context knows, but nobody asked to cancel.
  ASSERT_TRUE(handler_.wait(0, [](const auto& h) { return h.context->cancelled(); }));
  handler_.answer(0, R"({"plain":true})");
  auto bytes = s.read_to_end(5s);
  ASSERT_TRUE(bytes.has_value()) << "the connection was not closed after the answer";
  EXPECT_NE(bytes->find("HTTP/1.1 200"), std::string::npos) << *bytes;
  EXPECT_NE(bytes->find(R"({"plain":true})"), std::string::npos) << *bytes;
  ASSERT_TRUE(handler_.wait(0, [](const auto& h) { return h.written.has_value(); }));
  EXPECT_EQ(handler_.snapshot(0).written, std::optional<bool>(true));
}

TEST_F(RequestContextServerTest, AHalfClosedPeerCancelsACancellableRequest) {
  PlainSocket s;
  ASSERT_TRUE(s.connect(port()));
  ASSERT_TRUE(s.send(test::format_request("GET", "/poll?cancel=1")));
  ASSERT_TRUE(handler_.wait_request(0));
  s.shutdown_write();
  ASSERT_TRUE(handler_.wait(0, [](const auto& h) { return h.cancels > 0; }));
  handler_.answer(0, R"({"abandoned":true})");
  auto bytes = s.read_to_end(5s);
  ASSERT_TRUE(bytes.has_value()) << "the connection was not closed";
  EXPECT_EQ(*bytes, "") << "an abandoned answer was written";
  ASSERT_TRUE(handler_.wait(0, [](const auto& h) { return h.written.has_value(); }));
  EXPECT_EQ(handler_.snapshot(0).written, std::optional<bool>(false));
}

TEST_F(RequestContextServerTest, AnswersBehindAnAbandonedOneAreStillWritten) {
  // Two pipelined requests, the first cancellable; the peer half-closes. The first answer is
  // dropped, the second (not cancellable) still goes out.
  PlainSocket s;
  ASSERT_TRUE(s.connect(port()));
  ASSERT_TRUE(s.send(test::format_request("GET", "/poll?cancel=1") +
                     test::format_request("GET", "/plain")));
  ASSERT_TRUE(handler_.wait_request(1));
  s.shutdown_write();
  ASSERT_TRUE(handler_.wait(0, [](const auto& h) { return h.cancels > 0; }));
  handler_.answer(1, R"({"second":true})");
  handler_.answer(0, R"({"first":true})");
  auto bytes = s.read_to_end(5s);
  ASSERT_TRUE(bytes.has_value());
  EXPECT_EQ(bytes->find(R"({"first":true})"), std::string::npos) << *bytes;
  EXPECT_NE(bytes->find(R"({"second":true})"), std::string::npos) << *bytes;
  ASSERT_TRUE(handler_.wait(1, [](const auto& h) { return h.written.has_value(); }));
  EXPECT_EQ(handler_.snapshot(0).written, std::optional<bool>(false));
  EXPECT_EQ(handler_.snapshot(1).written, std::optional<bool>(true));
}

TEST_F(RequestContextServerTest, StoppingTheServerCancelsWhatIsPendingAndWritesNothing) {
  test::TestConnection c;
  ASSERT_TRUE(c.connect(port()));
  ASSERT_TRUE(c.send(test::format_request("GET", "/poll?cancel=1")));
  ASSERT_TRUE(handler_.wait_request(0));
  server_->stop(100ms);  // the request is not answered within the grace
  auto h = handler_.snapshot(0);
  EXPECT_EQ(h.cancels, 1);
  EXPECT_EQ(h.written, std::optional<bool>(false));
  handler_.answer(0, "{}");  // too late: nothing happens
  EXPECT_EQ(handler_.snapshot(0).written, std::optional<bool>(false));
}

}  // namespace
}  // namespace stepd::server
