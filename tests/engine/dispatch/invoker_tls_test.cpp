// https:// endpoints of the HttpInvoker against real TLS servers on 127.0.0.1, with certificates
// made at test time: verification against the system's store and InvokerOptions::tls_ca_file,
// host names and IP addresses, SNI, keep-alive over TLS, handshake failures and deadlines.
#include "engine/dispatch/http_invoker.hpp"

#include "engine/dispatch/invocation.hpp"
#include "engine/task_resource.hpp"
#include "invoker_test_server.hpp"
#include "invoker_test_support.hpp"
#include "invoker_tls_test_server.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>

namespace stepd::engine {
namespace {

using asl::Json;
using asl::StatesError;
using invoker_testing::call;
using invoker_testing::error_of;
using invoker_testing::make_task;
using invoker_testing::Outcomes;
using invoker_testing::RegistryFixture;
using invoker_testing::result_of;
using std::chrono::milliseconds;
using testing::ElementsAre;
using testing::HasSubstr;
using testing::StartsWith;
using testing_server::Received;
using testing_server::Reply;
using testing_server::TestServer;
using testing_tls::Credentials;
using testing_tls::TempFile;
using testing_tls::TestCa;
using testing_tls::TlsTestServer;

constexpr const char* kHttp = "arn:aws:states:::http:invoke";
const std::string kSecure = "arn:aws:lambda:us-east-1:123456789012:function:secure";

Reply echo(const Received& r) {
  Reply reply;
  reply.body = r.body.empty() ? R"({"target":")" + r.target + R"("})" : r.body;
  return reply;
}

TaskDispatch get(const std::string& url, std::string token = "token-1") {
  return make_task(kHttp, {{"ApiEndpoint", url}, {"Method", "GET"}}, std::move(token));
}

// A test CA (trusted through InvokerOptions::tls_ca_file) and a server whose certificate it
// signed for localhost and 127.0.0.1.
class InvokerTls : public ::testing::Test {
 protected:
  InvokerOptions trusting() const {
    InvokerOptions o;
    o.tls_ca_file = ca_file_.path();
    return o;
  }
  // A function route the Registry's put() does not take yet (it accepts http:// only): written
  // to the store and loaded.
  void https_route(const std::string& name, const std::string& url) {
    ASSERT_TRUE(routes_.store->put_route(RouteRecord{"function", name, url, 1}).ok());
    ASSERT_TRUE(routes_.registry->load().ok());
  }

  TestCa ca_;
  TempFile ca_file_{ca_.cert_pem()};
  TlsTestServer server_{ca_.issue("localhost", {"DNS:localhost", "IP:127.0.0.1"}), echo};
  RegistryFixture routes_;
};

TEST_F(InvokerTls, HttpTaskOverHttpsKeepsItsConnection) {
  HttpInvoker invoker(*routes_.registry, trusting());
  for (int i = 0; i < 5; ++i) {
    std::string path = "/items?n=" + std::to_string(i);
    Json r =
        result_of(call(invoker, get(server_.url("localhost", path), "tok-" + std::to_string(i))));
    EXPECT_EQ(r["StatusCode"], 200);
    EXPECT_EQ(r["ResponseBody"], (Json{{"target", path}}));
  }
  EXPECT_EQ(server_.requests(), 5);
  EXPECT_EQ(server_.accepts(), 1);     // one connection ...
  EXPECT_EQ(server_.handshakes(), 1);  // ... and one handshake for all five calls
  EXPECT_THAT(server_.server_names(), ElementsAre("localhost"));
  ASSERT_EQ(server_.received().size(), 5u);
  EXPECT_EQ(server_.received()[0].value("Host"), "localhost:" + std::to_string(server_.port()));
  EXPECT_EQ(invoker.in_flight(), 0u);
}

TEST_F(InvokerTls, IpAddressEndpointIsCheckedAgainstTheCertificateWithoutSni) {
  HttpInvoker invoker(*routes_.registry, trusting());
  Json r = result_of(call(invoker, get(server_.url("127.0.0.1", "/ip"))));
  EXPECT_EQ(r["ResponseBody"], (Json{{"target", "/ip"}}));
  EXPECT_THAT(server_.server_names(), ElementsAre(""));  // RFC 6066: no SNI for an address
}

TEST_F(InvokerTls, LambdaFunctionsOverHttps) {
  https_route("secure", server_.url("localhost", "/fn"));
  HttpInvoker invoker(*routes_.registry, trusting());
  EXPECT_EQ(result_of(call(invoker, make_task(kSecure, {{"n", 1}}, "tok-1"))), (Json{{"n", 1}}));
  Json wrapped = result_of(
      call(invoker, make_task("arn:aws:states:::lambda:invoke",
                              {{"FunctionName", "secure"}, {"Payload", {{"n", 2}}}}, "tok-2")));
  EXPECT_EQ(wrapped["Payload"], (Json{{"n", 2}}));
  EXPECT_EQ(wrapped["StatusCode"], 200);
  EXPECT_EQ(server_.accepts(), 1);
  ASSERT_EQ(server_.received().size(), 2u);
  EXPECT_EQ(server_.received()[1].method, "POST");
  EXPECT_EQ(server_.received()[1].target, "/fn");
}

TEST_F(InvokerTls, CertificateOfAnUnknownCaFails) {
  HttpInvoker invoker(*routes_.registry);  // the system's trust store only
  std::string url = server_.url("localhost", "/x");
  EXPECT_EQ(error_of(call(invoker, get(url))),
            (StatesError{"States.TaskFailed",
                         "TLS handshake with " + url +
                             " failed: certificate verify failed: unable to get local issuer "
                             "certificate"}));
  EXPECT_EQ(server_.requests(), 0);
  EXPECT_EQ(server_.handshakes(), 0);
  EXPECT_EQ(invoker.in_flight(), 0u);

  // A function: the same cause, under Lambda's name for a call that could not be made.
  https_route("secure", url);
  EXPECT_EQ(error_of(call(invoker, make_task(kSecure, Json::object(), "tok-fn"))),
            (StatesError{"Lambda.SdkClientException",
                         "TLS handshake with " + url +
                             " failed: certificate verify failed: unable to get local issuer "
                             "certificate"}));
}

TEST_F(InvokerTls, SelfSignedCertificateFails) {
  TlsTestServer self_signed(TestCa::self_signed("localhost", {"DNS:localhost"}), echo);
  HttpInvoker invoker(*routes_.registry, trusting());
  std::string url = self_signed.url("localhost", "/x");
  EXPECT_EQ(error_of(call(invoker, get(url))),
            (StatesError{"States.TaskFailed", "TLS handshake with " + url +
                                                  " failed: certificate verify failed: "
                                                  "self-signed certificate"}));
  EXPECT_EQ(self_signed.requests(), 0);
}

TEST_F(InvokerTls, CertificateForAnotherNameFails) {
  TlsTestServer other(ca_.issue("api.example.com", {"DNS:api.example.com"}), echo);
  HttpInvoker invoker(*routes_.registry, trusting());
  std::string by_name = other.url("localhost", "/x");
  EXPECT_EQ(error_of(call(invoker, get(by_name, "tok-1"))),
            (StatesError{"States.TaskFailed", "TLS handshake with " + by_name +
                                                  " failed: certificate verify failed: "
                                                  "hostname mismatch"}));
  std::string by_ip = other.url("127.0.0.1", "/x");
  EXPECT_EQ(error_of(call(invoker, get(by_ip, "tok-2"))),
            (StatesError{"States.TaskFailed", "TLS handshake with " + by_ip +
                                                  " failed: certificate verify failed: "
                                                  "IP address mismatch"}));
  EXPECT_EQ(other.requests(), 0);
  // The CN alone does not count for a name: the certificate's subjectAltName decides.
  TlsTestServer cn_only(ca_.issue("localhost", {"DNS:api.example.com"}), echo);
  std::string cn_url = cn_only.url("localhost", "/x");
  EXPECT_EQ(
      error_of(call(invoker, get(cn_url, "tok-3"))).cause,
      "TLS handshake with " + cn_url + " failed: certificate verify failed: hostname mismatch");
}

TEST_F(InvokerTls, StalledHandshakeEndsAtTheDeadline) {
  // Connections complete in the listen backlog, but nobody ever answers the ClientHello.
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor silent(
      io, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  std::string url = "https://localhost:" + std::to_string(silent.local_endpoint().port()) + "/x";
  HttpInvoker invoker(*routes_.registry, trusting());
  TaskDispatch t = get(url);
  t.timeout_seconds = 0.5;
  auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(error_of(call(invoker, t)),
            (StatesError{"States.Timeout",
                         "GET " + url + " did not complete within 500 ms (the task's deadline)"}));
  auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_GE(elapsed, milliseconds(480));
  EXPECT_LT(elapsed, milliseconds(3000));
  EXPECT_EQ(invoker.in_flight(), 0u);

  // Cancelled during the handshake: no outcome at all.
  Outcomes outcomes;
  invoker.invoke(get(url, "tok-cancel"), outcomes.done());
  std::this_thread::sleep_for(milliseconds(100));
  invoker.cancel("tok-cancel");
  EXPECT_EQ(invoker.in_flight(), 0u);
  EXPECT_FALSE(outcomes.wait(1, milliseconds(300)));
}

TEST_F(InvokerTls, ClosedPooledTlsConnectionIsRetriedOnce) {
  // Answers keep-alive, then closes the connection (no close_notify) anyway.
  TlsTestServer closing(ca_.issue("localhost", {"DNS:localhost"}), [](const Received& r) {
    Reply reply = echo(r);
    reply.close_after = true;
    return reply;
  });
  HttpInvoker invoker(*routes_.registry, trusting());
  EXPECT_EQ(result_of(call(invoker, get(closing.url("localhost", "/a"), "tok-1")))["StatusCode"],
            200);
  std::this_thread::sleep_for(milliseconds(100));  // the server's close arrives
  EXPECT_EQ(result_of(call(invoker, get(closing.url("localhost", "/b"), "tok-2")))["StatusCode"],
            200);
  EXPECT_EQ(closing.accepts(), 2);
  EXPECT_EQ(closing.handshakes(), 2);
  EXPECT_EQ(closing.requests(), 2);  // the retried request reached the server once
}

TEST_F(InvokerTls, SchemeIsPartOfThePoolKey) {
  HttpInvoker invoker(*routes_.registry, trusting());
  EXPECT_EQ(result_of(call(invoker, get(server_.url("localhost", "/a"), "tok-1")))["StatusCode"],
            200);
  // The same host and port over http:// must not borrow the idle TLS connection: it opens a
  // plain one, which this TLS server refuses.
  std::string plain = "http://localhost:" + std::to_string(server_.port()) + "/b";
  StatesError e = error_of(call(invoker, get(plain, "tok-2")));
  EXPECT_EQ(e.error, "States.TaskFailed");
  EXPECT_THAT(e.cause, HasSubstr(plain));
  EXPECT_EQ(server_.accepts(), 2);
  // The TLS connection is still there for https://.
  EXPECT_EQ(result_of(call(invoker, get(server_.url("localhost", "/c"), "tok-3")))["StatusCode"],
            200);
  EXPECT_EQ(server_.accepts(), 2);
  EXPECT_EQ(server_.handshakes(), 1);
  EXPECT_EQ(server_.requests(), 2);
}

TEST_F(InvokerTls, PlainHttpServerBehindAnHttpsUrlFails) {
  TestServer plain([](const Received&) { return Reply{}; });
  HttpInvoker invoker(*routes_.registry, trusting());
  std::string url = "https://127.0.0.1:" + std::to_string(plain.port()) + "/x";
  StatesError e = error_of(call(invoker, get(url)));
  EXPECT_EQ(e.error, "States.TaskFailed");
  EXPECT_THAT(e.cause, StartsWith("TLS handshake with " + url + " failed: "));
  EXPECT_EQ(plain.requests(), 0);
}

TEST_F(InvokerTls, HttpsAndHttpEndpointsSideBySide) {
  TestServer plain(echo);
  HttpInvoker invoker(*routes_.registry, trusting());
  Outcomes outcomes;
  for (int i = 0; i < 20; ++i) {
    std::string url = i % 2 == 0 ? server_.url("localhost", "/s") : plain.url("/p");
    invoker.invoke(get(url, "tok-" + std::to_string(i)), outcomes.done());
  }
  ASSERT_TRUE(outcomes.wait(20));
  for (const auto& o : outcomes.all()) EXPECT_EQ(result_of(o)["StatusCode"], 200);
  EXPECT_EQ(server_.requests(), 10);
  EXPECT_EQ(plain.requests(), 10);
  EXPECT_EQ(server_.handshakes(), server_.accepts());
}

TEST(InvokerTlsOptions, UnreadableCaFileIsRefusedAtConstruction) {
  RegistryFixture routes;
  InvokerOptions o;
  o.tls_ca_file = "/nonexistent/stepd-ca.pem";
  try {
    HttpInvoker invoker(*routes.registry, o);
    ADD_FAILURE() << "the invoker took a CA file that does not exist";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(std::string(e.what()),
                StartsWith("cannot load the CA file '/nonexistent/stepd-ca.pem' for https:// "
                           "calls: "));
  }
  TempFile not_pem("this is not a certificate\n");
  o.tls_ca_file = not_pem.path();
  EXPECT_THROW(HttpInvoker(*routes.registry, o), std::runtime_error);
}

// --- The plan of an https:// call --------------------------------------------------------------

TEST(InvokerTlsPlan, HttpsUrlsKeepTheirScheme) {
  std::string why;
  auto u = parse_http_url("https://api.example.com/v1?x=1", &why, UrlSchemes::HttpOrHttps);
  ASSERT_TRUE(u) << why;
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->host, "api.example.com");
  EXPECT_EQ(u->port, "443");
  EXPECT_EQ(u->target, "/v1?x=1");
  auto plain = parse_http_url("http://h:8080/", &why, UrlSchemes::HttpOrHttps);
  ASSERT_TRUE(plain) << why;
  EXPECT_EQ(plain->scheme, "http");
  EXPECT_EQ(plain->port, "8080");
  auto bare = parse_http_url("h", &why, UrlSchemes::HttpOrHttps);
  ASSERT_TRUE(bare) << why;
  EXPECT_EQ(bare->scheme, "http");
  EXPECT_EQ(bare->port, "80");
  EXPECT_FALSE(parse_http_url("ftp://h/", &why, UrlSchemes::HttpOrHttps));
  EXPECT_EQ(why, "the URL scheme must be http:// or https://");
  // Callers without TLS (the default) still refuse https://.
  EXPECT_FALSE(parse_http_url("https://h/", &why));
  EXPECT_EQ(why, "https:// URLs are not supported here; use http://");
}

TEST(InvokerTlsPlan, HttpTaskPlansAnHttpsCall) {
  RouteLookup routes;
  auto planned = plan_call(make_task(kHttp, {{"ApiEndpoint", "https://api.example.com/orders"},
                                             {"Method", "GET"},
                                             {"QueryParameters", {{"id", "7"}}}}),
                           routes, InvokerOptions{});
  ASSERT_TRUE(std::holds_alternative<HttpCallPlan>(planned))
      << std::get<StatesError>(planned).cause;
  const auto& plan = std::get<HttpCallPlan>(planned);
  EXPECT_EQ(plan.url.scheme, "https");
  EXPECT_EQ(plan.url.port, "443");
  EXPECT_EQ(plan.url.target, "/orders?id=7");
  EXPECT_EQ(plan.endpoint, "https://api.example.com:443/orders?id=7");
  EXPECT_EQ(std::get<StatesError>(plan_call(make_task(kHttp, {{"ApiEndpoint", "ftp://h/"},
                                                               {"Method", "GET"}}),
                                            routes, InvokerOptions{}))
                .cause,
            "The HTTP Task's ApiEndpoint 'ftp://h/' is not an http:// or https:// URL");
}

}  // namespace
}  // namespace stepd::engine
