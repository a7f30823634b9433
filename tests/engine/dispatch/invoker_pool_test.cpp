// Connections of the HttpInvoker: keep-alive reuse, the in-flight bound per endpoint, the one
// retry of a stale pooled connection, deadlines while queued, shutdown.
#include "engine/dispatch/http_invoker.hpp"

#include "invoker_test_server.hpp"
#include "invoker_test_support.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <thread>

namespace stepd::engine {
namespace {

using asl::Json;
using asl::StatesError;
using invoker_testing::call;
using invoker_testing::describe;
using invoker_testing::error_of;
using invoker_testing::make_task;
using invoker_testing::Outcomes;
using invoker_testing::RegistryFixture;
using invoker_testing::result_of;
using std::chrono::milliseconds;
using testing::HasSubstr;
using testing_server::Received;
using testing_server::Reply;
using testing_server::TestServer;

const std::string kEcho = "arn:aws:lambda:us-east-1:123456789012:function:echo";

Reply echo(const Received& r) {
  Reply reply;
  reply.body = r.body.empty() ? "null" : r.body;
  return reply;
}

// echo, answered after `delay`.
TestServer::Handler echo_after(milliseconds delay) {
  return [delay](const Received& r) {
    Reply reply = echo(r);
    reply.delay = delay;
    return reply;
  };
}

// A Registry that routes function "echo" (kEcho) to `server`'s /echo.
RegistryFixture echo_route(const TestServer& server) {
  RegistryFixture routes;
  routes.route("function", "echo", server.url("/echo"));
  return routes;
}

// Invokes calls 0..n-1 of kEcho (payload i, token "tok-i"), each reporting to `outcomes`.
void invoke_numbered(HttpInvoker& invoker, int n, Outcomes& outcomes) {
  for (int i = 0; i < n; ++i) {
    invoker.invoke(make_task(kEcho, i, "tok-" + std::to_string(i)), outcomes.done());
  }
}

TEST(InvokerPool, KeepAliveConnectionIsReused) {
  TestServer server(echo);
  RegistryFixture routes = echo_route(server);
  HttpInvoker invoker(*routes.registry);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(result_of(call(invoker, make_task(kEcho, i, "tok-" + std::to_string(i)))), i);
  }
  EXPECT_EQ(server.requests(), 10);
  EXPECT_EQ(server.accepts(), 1);
}

TEST(InvokerPool, InFlightBoundPerEndpoint) {
  TestServer server(echo_after(milliseconds(150)));
  RegistryFixture routes = echo_route(server);
  InvokerOptions o;
  o.max_in_flight_per_endpoint = 4;
  HttpInvoker invoker(*routes.registry, o);
  Outcomes outcomes;
  auto started = std::chrono::steady_clock::now();
  invoke_numbered(invoker, 20, outcomes);
  EXPECT_EQ(invoker.in_flight(), 20u);
  ASSERT_TRUE(outcomes.wait(20));
  auto elapsed = std::chrono::steady_clock::now() - started;
  for (const auto& o : outcomes.all()) EXPECT_TRUE(std::holds_alternative<Json>(o)) << describe(o);
  EXPECT_EQ(server.requests(), 20);
  EXPECT_EQ(server.max_concurrent(), 4);
  EXPECT_LE(server.accepts(), 4);
  EXPECT_GE(elapsed, milliseconds(5 * 150 - 20));  // 20 calls, 4 at a time
  EXPECT_EQ(invoker.in_flight(), 0u);
}

TEST(InvokerPool, QueuedCallsKeepTheirOrder) {
  TestServer server(echo_after(milliseconds(20)));
  RegistryFixture routes = echo_route(server);
  InvokerOptions o;
  o.max_in_flight_per_endpoint = 1;
  HttpInvoker invoker(*routes.registry, o);
  Outcomes outcomes;
  invoke_numbered(invoker, 6, outcomes);
  ASSERT_TRUE(outcomes.wait(6));
  std::vector<std::string> bodies;
  for (const Received& r : server.received()) bodies.push_back(r.body);
  EXPECT_THAT(bodies, testing::ElementsAre("0", "1", "2", "3", "4", "5"));
}

TEST(InvokerPool, DeadlineCountsWhileQueued) {
  TestServer server([](const Received& r) {
    Reply reply = echo(r);
    reply.delay = milliseconds(r.body == "\"slow\"" ? 2000 : 0);
    return reply;
  });
  RegistryFixture routes = echo_route(server);
  InvokerOptions o;
  o.max_in_flight_per_endpoint = 1;
  HttpInvoker invoker(*routes.registry, o);
  Outcomes slow;
  Outcomes queued;
  invoker.invoke(make_task(kEcho, "slow", "tok-slow"), slow.done());
  TaskDispatch t = make_task(kEcho, "quick", "tok-quick");
  t.timeout_seconds = 1;
  auto started = std::chrono::steady_clock::now();
  invoker.invoke(t, queued.done());
  ASSERT_TRUE(queued.wait(1, milliseconds(1800)));
  EXPECT_LT(std::chrono::steady_clock::now() - started, milliseconds(1500));
  EXPECT_EQ(error_of(queued.all()[0]).error, "States.Timeout");
  EXPECT_EQ(server.requests(), 1);  // the queued call never went out
  ASSERT_TRUE(slow.wait(1, milliseconds(3000)));
  EXPECT_EQ(result_of(slow.all()[0]), "slow");
}

TEST(InvokerPool, StalePooledConnectionIsRetriedOnce) {
  // Answers keep-alive, then closes the connection anyway.
  TestServer server([](const Received& r) {
    Reply reply = echo(r);
    reply.close_after = true;
    return reply;
  });
  RegistryFixture routes = echo_route(server);
  HttpInvoker invoker(*routes.registry);
  EXPECT_EQ(result_of(call(invoker, make_task(kEcho, 1, "tok-1"))), 1);
  std::this_thread::sleep_for(milliseconds(100));  // the server's close arrives
  EXPECT_EQ(result_of(call(invoker, make_task(kEcho, 2, "tok-2"))), 2);
  EXPECT_EQ(server.accepts(), 2);
  EXPECT_EQ(server.requests(), 2);  // the retried request reached the server once
  ASSERT_EQ(server.received().size(), 2u);
  EXPECT_EQ(server.received()[1].connection, 2);
}

TEST(InvokerPool, NoRetryOnAFreshConnection) {
  TestServer server([](const Received&) {
    Reply reply;
    reply.drop = true;  // reads the request, closes without an answer
    return reply;
  });
  RegistryFixture routes = echo_route(server);
  HttpInvoker invoker(*routes.registry);
  StatesError e = error_of(call(invoker, make_task(kEcho, 1)));
  EXPECT_EQ(e.error, "Lambda.SdkClientException");
  EXPECT_THAT(e.cause, HasSubstr("no valid response from " + server.url("/echo") + ": "));
  EXPECT_EQ(server.requests(), 1);
  EXPECT_EQ(server.accepts(), 1);
}

TEST(InvokerPool, NoRetryAfterPartOfTheAnswer) {
  TestServer server([](const Received& r) {
    Reply reply = echo(r);
    if (r.body == "2") {
      reply.raw = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{\"a\"";
    }
    return reply;
  });
  RegistryFixture routes = echo_route(server);
  HttpInvoker invoker(*routes.registry);
  EXPECT_EQ(result_of(call(invoker, make_task(kEcho, 1, "tok-1"))), 1);
  StatesError e = error_of(call(invoker, make_task(kEcho, 2, "tok-2")));
  EXPECT_EQ(e.error, "Lambda.SdkClientException");
  EXPECT_THAT(e.cause, HasSubstr("no valid response from"));
  EXPECT_EQ(server.requests(), 2);
  EXPECT_EQ(server.accepts(), 1);
}

TEST(InvokerPool, ShutdownAbandonsCallsInFlight) {
  TestServer server(echo_after(milliseconds(3000)));
  RegistryFixture routes = echo_route(server);
  HttpInvoker invoker(*routes.registry);
  Outcomes outcomes;
  invoke_numbered(invoker, 3, outcomes);
  for (int i = 0; i < 100 && server.requests() < 3; ++i) std::this_thread::sleep_for(milliseconds(10));
  auto started = std::chrono::steady_clock::now();
  invoker.shutdown();
  EXPECT_LT(std::chrono::steady_clock::now() - started, milliseconds(500));
  invoker.invoke(make_task(kEcho, 9, "tok-late"), outcomes.done());  // after shutdown: ignored
  EXPECT_EQ(invoker.in_flight(), 0u);
  EXPECT_FALSE(outcomes.wait(1, milliseconds(300)));
}

TEST(InvokerPool, ManyThreadsManyEndpoints) {
  TestServer a(echo);
  TestServer b(echo);
  RegistryFixture routes;
  routes.route("function", "a", a.url("/a"));
  routes.route("function", "b", b.url("/b"));
  InvokerOptions o;
  o.threads = 2;
  o.max_in_flight_per_endpoint = 3;
  HttpInvoker invoker(*routes.registry, o);
  Outcomes outcomes;
  for (int i = 0; i < 200; ++i) {
    std::string fn = i % 2 == 0 ? "a" : "b";
    invoker.invoke(make_task("arn:aws:lambda:us-east-1:123456789012:function:" + fn, i,
                             "tok-" + std::to_string(i)),
                   outcomes.done());
  }
  ASSERT_TRUE(outcomes.wait(200));
  int sum = 0;
  for (const auto& o : outcomes.all()) sum += result_of(o).get<int>();
  EXPECT_EQ(sum, 199 * 200 / 2);
  EXPECT_LE(a.max_concurrent(), 3);
  EXPECT_LE(b.max_concurrent(), 3);
  EXPECT_LE(a.accepts(), 3);
}

// Not a check of speed: prints calls/s to a keep-alive server with one I/O thread.
TEST(InvokerPool, Throughput) {
  TestServer server(echo);
  RegistryFixture routes = echo_route(server);
  InvokerOptions o;
  o.max_in_flight_per_endpoint = 8;
  HttpInvoker invoker(*routes.registry, o);
  constexpr int kCalls = 4000;
  Outcomes outcomes;
  auto started = std::chrono::steady_clock::now();
  invoke_numbered(invoker, kCalls, outcomes);
  ASSERT_TRUE(outcomes.wait(kCalls, milliseconds(60'000)));
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("[ info     ] %d calls in %.2f s: %.0f calls/s (1 I/O thread, 8 connections)\n",
              kCalls, seconds, kCalls / seconds);
  EXPECT_LE(server.accepts(), 8);
  EXPECT_EQ(server.requests(), kCalls);
}

}  // namespace
}  // namespace stepd::engine
