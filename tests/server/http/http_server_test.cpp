// The HTTP server in process, with a test handler: keep-alive, pipelining order, limits and
// time-outs, connection cap, concurrent clients, graceful stop, TLS.
#include "server/http/server.hpp"

#include "server/http/router.hpp"
#include "tests/server/process/http_client.hpp"
#include "tests/support/child_process.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <future>
#include <regex>
#include <set>
#include <thread>

namespace stepd::server {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using test::http_request;
using test::run_command;
using test::HttpReply;
using test::TestConnection;

long long query_number(const std::string& query, const std::string& key) {
  const auto at = query.find(key + "=");
  if (at == std::string::npos) return 0;
  return std::atoll(query.c_str() + at + key.size() + 1);
}

// Echoes the request. ?sleep_ms=N blocks the handler thread N ms first; ?async_ms=N answers from
// another thread after N ms; /throw throws.
class EchoHandler final : public Handler {
 public:
  ~EchoHandler() override {
    for (auto& t : threads_) t.join();
  }
  void handle(HttpRequest request, Caller caller, Respond respond) override {
    ++calls;
    if (request.path == "/throw") throw std::runtime_error("boom");
    const long long sleep_ms = query_number(request.query, "sleep_ms");
    if (sleep_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
    const std::string* tag = request.header("x-tag");
    json body = {{"method", request.method}, {"path", request.path},
                 {"query", request.query},   {"body_size", request.body.size()},
                 {"tag", tag ? *tag : ""},   {"request_id", caller.request_id},
                 {"remote", caller.remote}};
    HttpResponse r{200, "application/json", {{"X-Echo", "yes"}}, body.dump()};
    const long long async_ms = query_number(request.query, "async_ms");
    if (async_ms > 0) {
      std::lock_guard lock(mu_);
      threads_.emplace_back([respond, r, async_ms] {
        std::this_thread::sleep_for(std::chrono::milliseconds(async_ms));
        respond(r);
      });
      return;
    }
    respond(std::move(r));
  }
  std::atomic<int> calls{0};

 private:
  std::mutex mu_;
  std::vector<std::thread> threads_;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void start(ServerOptions options = {}) {
    options.port = 0;
    if (options.io_threads == 0) options.io_threads = 2;
    options.on_exchange = [this](const Exchange& e, const HttpResponse&) {
      std::lock_guard lock(mu_);
      exchanges_.push_back(e);
    };
    server_ = std::make_unique<HttpServer>(options, handler_);
    engine::Status s = server_->start();
    ASSERT_TRUE(s.ok()) << s.error().message;
  }
  void TearDown() override {
    if (server_) server_->stop(2s);
  }
  unsigned short port() const { return server_->port(); }
  std::vector<Exchange> exchanges() {
    std::lock_guard lock(mu_);
    return exchanges_;
  }

  EchoHandler handler_;
  std::unique_ptr<HttpServer> server_;
  std::mutex mu_;
  std::vector<Exchange> exchanges_;
};

TEST_F(HttpServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  start();
  TestConnection c;
  ASSERT_TRUE(c.connect(port()));
  std::set<std::string> ids;
  std::string remote;
  for (int i = 0; i < 5; ++i) {
    HttpReply r = c.request("POST", "/v1/echo?i=" + std::to_string(i), "hello",
                            {{"X-Tag", "t" + std::to_string(i)}});
    ASSERT_EQ(r.status, 200) << r.error;
    EXPECT_TRUE(r.keep_alive);
    const json body = json::parse(r.body);
    EXPECT_EQ(body["query"], "i=" + std::to_string(i));
    EXPECT_EQ(body["tag"], "t" + std::to_string(i));
    EXPECT_EQ(body["body_size"], 5);
    EXPECT_EQ(r.header("x-echo"), "yes");
    EXPECT_EQ(r.header("content-type"), "application/json");
    EXPECT_FALSE(r.header("date").empty());
    // The request id is a UUID, the same in the header and the caller.
    const std::string id = r.header("x-amzn-requestid");
    EXPECT_TRUE(std::regex_match(
        id, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
        << id;
    EXPECT_EQ(body["request_id"], id);
    ids.insert(id);
    if (i == 0) remote = body["remote"];
    EXPECT_EQ(body["remote"], remote);  // the same connection every time
  }
  EXPECT_EQ(ids.size(), 5u);
  EXPECT_EQ(server_->connections(), 1u);
  EXPECT_EQ(remote.rfind("127.0.0.1:", 0), 0u) << remote;
}

TEST_F(HttpServerTest, PipelinedRequestsAreHandledAtOnceAndAnsweredInOrder) {
  ServerOptions options;
  options.handler_threads = 4;
  start(options);
  TestConnection c;
  ASSERT_TRUE(c.connect(port()));
  const auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(c.send(test::format_request("GET", "/a?sleep_ms=600") +
                     test::format_request("GET", "/b") +
                     test::format_request("GET", "/c?async_ms=300") +
                     test::format_request("GET", "/d?sleep_ms=400")));
  for (const char* path : {"/a", "/b", "/c", "/d"}) {
    auto r = c.read_response();
    ASSERT_TRUE(r) << c.error();
    EXPECT_EQ(json::parse(r->body)["path"], path);
  }
  // Handled one after the other they would take 1.3 s.
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1200ms);
}

TEST_F(HttpServerTest, BodyOverTheLimitIs413WithTheLimit) {
  ServerOptions options;
  options.max_body_bytes = 1024;
  start(options);
  HttpReply at_limit = http_request(port(), "POST", "/v1/x", std::string(1024, 'a'));
  EXPECT_EQ(at_limit.status, 200);

  TestConnection c;
  ASSERT_TRUE(c.connect(port()));
  HttpReply over = c.request("POST", "/v1/x", std::string(1025, 'a'));
  EXPECT_EQ(over.status, 413);
  EXPECT_EQ(over.header("content-type"), "application/json");
  EXPECT_EQ(json::parse(over.body),
            (json{{"code", "PayloadTooLarge"},
                  {"message", "Request body exceeds the limit of 1024 bytes"}}));
  EXPECT_FALSE(over.keep_alive);
  EXPECT_TRUE(c.wait_closed());

  // The declared length alone is refused, before the body is sent; AWS-protocol shape.
  TestConnection aws;
  ASSERT_TRUE(aws.connect(port()));
  ASSERT_TRUE(
      aws.send("POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AWSStepFunctions.StartExecution"
               "\r\nContent-Length: 5000000\r\n\r\n"));
  auto early = aws.read_response();
  ASSERT_TRUE(early) << aws.error();
  EXPECT_EQ(early->status, 413);
  EXPECT_EQ(early->header("content-type"), "application/x-amz-json-1.0");
  EXPECT_EQ(json::parse(early->body),
            (json{{"__type", "RequestEntityTooLargeException"},
                  {"message", "Request body exceeds the limit of 1024 bytes"}}));
  // A chunked body over the limit too.
  TestConnection chunked;
  ASSERT_TRUE(chunked.connect(port()));
  ASSERT_TRUE(
      chunked.send("POST /v1/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "400\r\n" +
                   std::string(1024, 'b') + "\r\n10\r\n" + std::string(16, 'c') + "\r\n0\r\n\r\n"));
  auto chunked_reply = chunked.read_response();
  ASSERT_TRUE(chunked_reply) << chunked.error();
  EXPECT_EQ(chunked_reply->status, 413);
  EXPECT_EQ(handler_.calls.load(), 1);
}

TEST_F(HttpServerTest, HeadersOverTheLimitAre431) {
  ServerOptions options;
  options.max_header_bytes = 2048;
  start(options);
  HttpReply r = http_request(port(), "GET", "/v1/x", "", {{"X-Big", std::string(4000, 'h')}});
  EXPECT_EQ(r.status, 431);
  EXPECT_EQ(json::parse(r.body),
            (json{{"code", "RequestHeaderFieldsTooLarge"},
                  {"message", "Request line and headers exceed the limit of 2048 bytes"}}));
  EXPECT_EQ(http_request(port(), "GET", "/v1/x", "", {{"X-Big", std::string(1500, 'h')}}).status,
            200);
}

TEST_F(HttpServerTest, MalformedRequestIs400) {
  start();
  TestConnection c;
  ASSERT_TRUE(c.connect(port()));
  ASSERT_TRUE(c.send("GET /x HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"));
  auto r = c.read_response();
  ASSERT_TRUE(r) << c.error();
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(json::parse(r->body)["code"], "BadRequest");
  EXPECT_EQ(json::parse(r->body)["message"].get<std::string>().rfind("Malformed HTTP request: ", 0),
            0u);
  EXPECT_TRUE(c.wait_closed());
}

TEST_F(HttpServerTest, SlowClientIsCutAfterTheReadTimeout) {
  ServerOptions options;
  options.read_timeout = 400ms;
  start(options);
  // A body that never completes.
  TestConnection body;
  ASSERT_TRUE(body.connect(port()));
  const auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(body.send("POST /v1/x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"));
  auto r = body.read_response(3s);
  ASSERT_TRUE(r) << body.error();
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(r->status, 408);
  EXPECT_EQ(json::parse(r->body),
            (json{{"code", "RequestTimeout"},
                  {"message", "The request was not received completely within 400 ms"}}));
  EXPECT_GE(took, 350ms);
  EXPECT_LT(took, 2s);
  EXPECT_TRUE(body.wait_closed());

  // Headers sent a byte at a time, slower than the time-out allows (slowloris).
  TestConnection drip;
  ASSERT_TRUE(drip.connect(port()));
  const std::string head = "GET /v1/x HTTP/1.1\r\nHost: x\r\nX-Slow: 1234567890\r\n\r\n";
  bool cut = false;
  for (char ch : head) {
    if (!drip.send(std::string(1, ch))) {
      cut = true;
      break;
    }
    std::this_thread::sleep_for(50ms);
    if (std::chrono::steady_clock::now() - started > 5s) break;
  }
  if (!cut) {
    auto reply = drip.read_response(2s);
    ASSERT_TRUE(reply) << drip.error();
    EXPECT_EQ(reply->status, 408);
  }
  EXPECT_EQ(handler_.calls.load(), 0);
}

TEST_F(HttpServerTest, IdleConnectionIsClosedButSlowAnswersAreNot) {
  ServerOptions options;
  options.idle_timeout = 300ms;
  start(options);
  TestConnection c;
  ASSERT_TRUE(c.connect(port()));
  // Handling takes longer than the idle time-out: the connection is not idle meanwhile.
  HttpReply slow = c.request("GET", "/v1/x?sleep_ms=700");
  EXPECT_EQ(slow.status, 200) << slow.error;
  HttpReply again = c.request("GET", "/v1/y");
  EXPECT_EQ(again.status, 200) << again.error;
  const auto idle_from = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.wait_closed(3s));
  const auto idle = std::chrono::steady_clock::now() - idle_from;
  EXPECT_GE(idle, 250ms);
  EXPECT_LT(idle, 2s);
}

TEST_F(HttpServerTest, OverMaxConnectionsGets503AndIsClosed) {
  ServerOptions options;
  options.max_connections = 2;
  start(options);
  TestConnection a, b;
  ASSERT_TRUE(a.connect(port()));
  ASSERT_TRUE(b.connect(port()));
  EXPECT_EQ(a.request("GET", "/v1/a").status, 200);
  EXPECT_EQ(b.request("GET", "/v1/b").status, 200);
  TestConnection third;
  ASSERT_TRUE(third.connect(port()));
  ASSERT_TRUE(third.send(test::format_request("GET", "/v1/c")));
  auto r = third.read_response();
  ASSERT_TRUE(r) << third.error();
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->header("retry-after"), "1");
  EXPECT_EQ(json::parse(r->body),
            (json{{"code", "ServiceUnavailable"},
                  {"message", "Too many connections (limit 2); retry later"}}));
  EXPECT_TRUE(third.wait_closed());
  // Once one closes, a new connection is served.
  a.close();
  HttpReply later;
  for (int i = 0; i < 50 && later.status != 200; ++i) {
    later = http_request(port(), "GET", "/v1/d");
    if (later.status != 200) std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(later.status, 200);
  EXPECT_EQ(b.request("GET", "/v1/e").status, 200);
}

TEST_F(HttpServerTest, ConcurrentClients) {
  ServerOptions options;
  options.handler_threads = 4;
  start(options);
  constexpr int kClients = 8;
  constexpr int kRequests = 25;
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < kClients; ++t) {
    clients.emplace_back([&, t] {
      TestConnection c;
      if (!c.connect(port())) return;
      for (int i = 0; i < kRequests; ++i) {
        const std::string body(static_cast<std::size_t>(t * 100 + i), 'x');
        HttpReply r = c.request("POST", "/v1/echo", body, {{"X-Tag", std::to_string(t)}});
        if (r.status == 200 && json::parse(r.body)["body_size"] == body.size() &&
            json::parse(r.body)["tag"] == std::to_string(t)) {
          ++ok;
        }
      }
    });
  }
  for (auto& c : clients) c.join();
  EXPECT_EQ(ok.load(), kClients * kRequests);
  EXPECT_EQ(handler_.calls.load(), kClients * kRequests);
}

TEST_F(HttpServerTest, HandlerFailureIs500AndAsyncAnswersWork) {
  start();
  HttpReply thrown = http_request(port(), "GET", "/throw");
  EXPECT_EQ(thrown.status, 500);
  EXPECT_EQ(
      json::parse(thrown.body),
      (json{{"code", "InternalError"}, {"message", "The server failed to handle the request"}}));
  HttpReply async = http_request(port(), "GET", "/v1/x?async_ms=100");
  EXPECT_EQ(async.status, 200);
  EXPECT_EQ(json::parse(async.body)["path"], "/v1/x");
}

TEST_F(HttpServerTest, ExpectContinueGetsAnInterimAnswer) {
  start();
  TestConnection c;
  ASSERT_TRUE(c.connect(port()));
  ASSERT_TRUE(
      c.send("POST /v1/x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
             "Content-Length: 4\r\n\r\n"));
  auto interim = c.read_until("\r\n\r\n", 3s);
  ASSERT_TRUE(interim) << c.error();
  EXPECT_EQ(*interim, "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(c.send("abcd"));
  auto r = c.read_response();
  ASSERT_TRUE(r) << c.error();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["body_size"], 4);
}

TEST_F(HttpServerTest, HeadGetsTheHeaderOnly) {
  start();
  TestConnection c;
  ASSERT_TRUE(c.connect(port()));
  HttpReply get = c.request("GET", "/v1/x");
  HttpReply head = c.request("HEAD", "/v1/x");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");
  // The echo names the method: "HEAD" is one byte longer than "GET".
  EXPECT_EQ(std::stoi(head.header("content-length")), std::stoi(get.header("content-length")) + 1);
  // Nothing was sent after the header: the next answer parses.
  HttpReply after = c.request("GET", "/v1/after");
  EXPECT_EQ(after.status, 200) << after.error;
  EXPECT_EQ(json::parse(after.body)["path"], "/v1/after");
}

TEST_F(HttpServerTest, AbsoluteFormTargetsAreServedByTheirPath) {
  // RFC 9112: a request line may name the whole URL, as clients write it to a proxy.
  start();
  TestConnection c;
  ASSERT_TRUE(c.connect(port()));
  HttpReply r = c.request("GET", "http://sync-localhost:4711/v1/echo?a=1", "");
  ASSERT_EQ(r.status, 200) << r.error;
  json body = json::parse(r.body);
  EXPECT_EQ(body["path"], "/v1/echo");
  EXPECT_EQ(body["query"], "a=1");
  r = c.request("POST", "HTTPS://example.invalid", "");
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(json::parse(r.body)["path"], "/");
  r = c.request("GET", "http://h:1?x=2", "");
  ASSERT_EQ(r.status, 200) << r.error;
  body = json::parse(r.body);
  EXPECT_EQ(body["path"], "/");
  EXPECT_EQ(body["query"], "x=2");
  auto seen = exchanges();  // reported once each answer is written
  for (int i = 0; i < 100 && seen.size() < 3; ++i) {
    std::this_thread::sleep_for(10ms);
    seen = exchanges();
  }
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].path, "/v1/echo");  // logs and metrics see the path too
}

TEST_F(HttpServerTest, ConnectionCloseIsHonoured) {
  start();
  TestConnection c;
  ASSERT_TRUE(c.connect(port()));
  HttpReply r = c.request("GET", "/v1/x", "", {{"Connection", "close"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.keep_alive);
  EXPECT_TRUE(c.wait_closed());
}

TEST_F(HttpServerTest, EveryAnswerIsReportedForLogsAndMetrics) {
  ServerOptions options;
  options.max_body_bytes = 1024;
  start(options);
  http_request(port(), "POST", "/", "{}",
               {{"X-Amz-Target", "AWSStepFunctions.ListStateMachines"},
                {"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}});
  http_request(port(), "POST", "/v1/big", std::string(2000, 'x'));
  std::vector<Exchange> seen;
  for (int i = 0; i < 100 && seen.size() < 2; ++i) {
    seen = exchanges();
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].path, "/");
  EXPECT_EQ(seen[0].amz_target, "AWSStepFunctions.ListStateMachines");
  EXPECT_EQ(seen[0].traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  EXPECT_EQ(seen[0].status, 200);
  EXPECT_GT(seen[0].seconds, 0);
  EXPECT_EQ(seen[0].request_id.size(), 36u);
  EXPECT_EQ(seen[1].path, "/v1/big");
  EXPECT_EQ(seen[1].status, 413);
}

TEST_F(HttpServerTest, GracefulStopFinishesRequestsInFlight) {
  start();
  // One request being handled, one connection idle.
  TestConnection idle;
  ASSERT_TRUE(idle.connect(port()));
  EXPECT_EQ(idle.request("GET", "/v1/first").status, 200);
  TestConnection busy;
  ASSERT_TRUE(busy.connect(port()));
  ASSERT_TRUE(busy.send(test::format_request("GET", "/v1/slow?sleep_ms=700")));
  std::this_thread::sleep_for(200ms);  // the request is in the handler now

  const auto stop_started = std::chrono::steady_clock::now();
  std::thread stopper([&] { server_->stop(5s); });
  auto r = busy.read_response(5s);
  ASSERT_TRUE(r) << busy.error();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["path"], "/v1/slow");
  EXPECT_FALSE(r->keep_alive);  // "Connection: close": the server is going away
  EXPECT_TRUE(busy.wait_closed());
  EXPECT_TRUE(idle.wait_closed());
  stopper.join();
  EXPECT_LT(std::chrono::steady_clock::now() - stop_started, 3s);
  // Nothing listens any more.
  TestConnection late;
  EXPECT_FALSE(late.connect(port(), 1s));
}

TEST_F(HttpServerTest, ARequestBeingReadWhenStoppingIsStillServed) {
  start();
  TestConnection c;
  ASSERT_TRUE(c.connect(port()));
  ASSERT_TRUE(c.send("POST /v1/partial HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nabc"));
  std::this_thread::sleep_for(100ms);
  std::thread stopper([&] { server_->stop(5s); });
  std::this_thread::sleep_for(200ms);
  ASSERT_TRUE(c.send("def"));
  auto r = c.read_response(5s);
  ASSERT_TRUE(r) << c.error();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["body_size"], 6);
  EXPECT_FALSE(r->keep_alive);
  stopper.join();
}

TEST_F(HttpServerTest, ListenErrors) {
  start();
  ServerOptions same;
  same.port = port();
  HttpServer clash(same, handler_);
  engine::Status s = clash.start();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, engine::ErrorCode::Unavailable);
  EXPECT_EQ(s.error().message, "cannot listen on 127.0.0.1:" + std::to_string(port()) +
                                   ": bind: Address already in use");
  ServerOptions bad_host;
  bad_host.host = "example.com";
  HttpServer named(bad_host, handler_);
  s = named.start();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "cannot listen on 'example.com': not an IP address");
  ServerOptions bad_tls;
  bad_tls.port = 0;
  bad_tls.tls_cert_file = "/nonexistent/cert.pem";
  bad_tls.tls_key_file = "/nonexistent/key.pem";
  HttpServer tls(bad_tls, handler_);
  s = tls.start();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, engine::ErrorCode::InvalidArgument);
  EXPECT_EQ(s.error().message.rfind("TLS certificate /nonexistent/cert.pem: ", 0), 0u)
      << s.error().message;
}

TEST_F(HttpServerTest, ServesHttpsWithACertificate) {
  std::string out;
  if (run_command("openssl version", out) != 0 || run_command("curl --version", out) != 0) {
    GTEST_SKIP() << "openssl and curl are needed to make a certificate and call over TLS";
  }
  const auto dir =
      std::filesystem::temp_directory_path() / ("stepd-tls-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string cert = (dir / "cert.pem").string();
  const std::string key = (dir / "key.pem").string();
  ASSERT_EQ(run_command("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
                        "-keyout " +
                            key + " -out " + cert,
                        out),
            0)
      << out;
  ServerOptions options;
  options.tls_cert_file = cert;
  options.tls_key_file = key;
  start(options);
  const std::string url = "https://127.0.0.1:" + std::to_string(port());
  ASSERT_EQ(
      run_command("curl -s --cacert " + cert + " " + url + "/v1/tls " + url + "/v1/again", out), 0)
      << out;
  EXPECT_NE(out.find("\"path\":\"/v1/tls\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"path\":\"/v1/again\""), std::string::npos) << out;
  // Plain HTTP to the TLS port gets no HTTP answer.
  EXPECT_EQ(http_request(port(), "GET", "/v1/x", "", {}, 2s).status, 0);
  std::filesystem::remove_all(dir);
}

TEST(RouterTest, ClassifiesRequests) {
  EXPECT_EQ(classify_route("POST", "/", "AWSStepFunctions.StartExecution"), RouteKind::Aws);
  EXPECT_EQ(classify_route("POST", "/", ""), RouteKind::NotFound);
  EXPECT_EQ(classify_route("GET", "/", "AWSStepFunctions.StartExecution"), RouteKind::NotFound);
  EXPECT_EQ(classify_route("GET", "/v1/state-machines", ""), RouteKind::Rest);
  EXPECT_EQ(classify_route("GET", "/v1", ""), RouteKind::Rest);
  EXPECT_EQ(classify_route("GET", "/v10/x", ""), RouteKind::NotFound);
  EXPECT_EQ(classify_route("GET", "/metrics", ""), RouteKind::Metrics);
  EXPECT_EQ(classify_route("GET", "/healthz", ""), RouteKind::Health);
  EXPECT_EQ(classify_route("GET", "/readyz", ""), RouteKind::Health);
  EXPECT_EQ(to_string(RouteKind::NotFound), "not_found");
}

TEST(RouterTest, Traceparent) {
  EXPECT_TRUE(valid_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  EXPECT_TRUE(valid_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"));
  EXPECT_FALSE(valid_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
  EXPECT_FALSE(valid_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));
  EXPECT_FALSE(valid_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(valid_traceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(valid_traceparent("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01"));
  EXPECT_FALSE(valid_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-"));
  EXPECT_FALSE(valid_traceparent(""));
}

// The router in front of the server: unknown paths are a JSON 404.
TEST(RouterTest, UnknownPathIsJson404) {
  EchoHandler echo;
  Router router(Routes{&echo, &echo, &echo, nullptr});
  ServerOptions options;
  options.port = 0;
  options.io_threads = 1;
  HttpServer server(options, router);
  ASSERT_TRUE(server.start().ok());
  HttpReply r = http_request(server.port(), "GET", "/nope?x=1");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(json::parse(r.body),
            (json{{"code", "NotFound"}, {"message", "No route for GET /nope"}}));
  EXPECT_EQ(http_request(server.port(), "GET", "/v1/state-machines").status, 200);
  server.stop(1s);
}

}  // namespace
}  // namespace stepd::server
