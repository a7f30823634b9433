// ServerOptions::on_exchange (the access log and the HTTP metrics): every request read is
// reported exactly once, with the status the client got, or 499 when its answer never reached
// the client. Through the real HTTP server on loopback.
#include "server/http/server.hpp"
#include "tests/server/process/http_client.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <thread>
#include <mutex>
#include <vector>

namespace stepd::server {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Answers /now at once with 201; holds the answer of every other path until release(), and asks
// to be told when the client goes (so a held answer is dropped once it has gone).
class HoldingHandler final : public Handler {
 public:
  void handle(HttpRequest request, Caller caller, Respond respond) override {
    if (request.path == "/now") {
      respond(HttpResponse{201, "application/json", {}, R"({"now":true})"});
      return;
    }
    caller.context->on_cancel([] {});
    std::lock_guard lock(mu_);
    held_.push_back(std::move(respond));
    cv_.notify_all();
  }
  bool wait_held(std::size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 3s, [&] { return held_.size() >= n; });
  }
  void release() {
    std::vector<Respond> held;
    {
      std::lock_guard lock(mu_);
      held.swap(held_);
    }
    for (auto& r : held) r(HttpResponse{200, "application/json", {}, R"({"late":true})"});
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Respond> held_;
};

class ExchangeReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.port = 0;
    options.io_threads = 2;
    options.on_exchange = [this](const Exchange& e, const HttpResponse&) {
      std::lock_guard lock(mu_);
      reports_.push_back(e);
      cv_.notify_all();
    };
    server_ = std::make_unique<HttpServer>(options, handler_);
    engine::Status s = server_->start();
    ASSERT_TRUE(s.ok()) << s.error().message;
  }
  void TearDown() override {
    if (server_) server_->stop(0ms);
    handler_.release();
  }

  // The reports of `path` once there are `n` of them (fewer after 3 s).
  std::vector<Exchange> reports_of(const std::string& path, std::size_t n) {
    std::unique_lock lock(mu_);
    std::vector<Exchange> out;
    cv_.wait_for(lock, 3s, [&] {
      out.clear();
      for (const auto& e : reports_) {
        if (e.path == path) out.push_back(e);
      }
      return out.size() >= n;
    });
    return out;
  }

  // How many reports of `path` there are now.
  std::size_t reported_now(const std::string& path) {
    std::lock_guard lock(mu_);
    std::size_t n = 0;
    for (const auto& e : reports_) n += e.path == path ? 1 : 0;
    return n;
  }

  HoldingHandler handler_;
  std::unique_ptr<HttpServer> server_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Exchange> reports_;
};

TEST_F(ExchangeReportTest, AWrittenAnswerIsReportedOnceWithItsStatus) {
  test::TestConnection c;
  ASSERT_TRUE(c.connect(server_->port()));
  ASSERT_TRUE(c.send(test::format_request("GET", "/now")));
  auto r = c.read_response(5s);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 201);
  auto reports = reports_of("/now", 1);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].status, 201);
  EXPECT_EQ(reports[0].method, "GET");
  EXPECT_GE(reports[0].seconds, 0.0);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(reported_now("/now"), 1u) << "reported twice";
}

TEST_F(ExchangeReportTest, AnAnswerTheClientLeftBeforeIsReportedAs499Once) {
  {
    test::TestConnection c;
    ASSERT_TRUE(c.connect(server_->port()));
    ASSERT_TRUE(c.send(test::format_request("GET", "/poll")));
    ASSERT_TRUE(handler_.wait_held(1));
  }  // the client goes before the answer
  auto reports = reports_of("/poll", 1);
  ASSERT_EQ(reports.size(), 1u) << "a request whose client left was not reported";
  EXPECT_EQ(reports[0].status, kClientClosedRequest);
  handler_.release();  // the late answer is dropped, and not reported again
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(reported_now("/poll"), 1u) << "reported twice";
}

TEST_F(ExchangeReportTest, PipelinedRequestsAreEachReportedWithWhatTheClientGot) {
  test::TestConnection c;
  ASSERT_TRUE(c.connect(server_->port()));
  // A held request, then one answered at once behind it (answers go out in order).
  ASSERT_TRUE(c.send(test::format_request("GET", "/held") + test::format_request("GET", "/now")));
  ASSERT_TRUE(handler_.wait_held(1));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(reported_now("/held"), 0u);
  EXPECT_EQ(reported_now("/now"), 0u) << "reported before its answer could be written";
  handler_.release();
  auto first = c.read_response(5s);
  auto second = c.read_response(5s);
  ASSERT_TRUE(first.has_value() && second.has_value());
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(second->status, 201);
  auto held = reports_of("/held", 1);
  auto now = reports_of("/now", 1);
  ASSERT_EQ(held.size(), 1u);
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(held[0].status, 200);
  EXPECT_EQ(now[0].status, 201);
}

}  // namespace
}  // namespace stepd::server
