#include "server/observability/registry.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>

namespace stepd::server::observability {
namespace {

TEST(RegistryTest, ExposesEveryKindInTextFormat004) {
  Registry r;
  auto& requests = r.counter("test_requests_total",
                             "Requests, by \"path\".\nSecond line \\ backslash", {"path", "code"});
  requests.with({"/a", "200"}).inc();
  requests.with({"/a", "200"}).inc(2);
  requests.with({"/b\"q\\\n", "500"}).inc();
  r.gauge("test_temperature", "A gauge.").get().set(-1.5);
  auto& latency = r.histogram("test_latency_seconds", "Latency.", {"op"}, {0.25, 1, 2.5});
  latency.with({"get"}).observe(0.125);
  latency.with({"get"}).observe(0.25);  // a bound is inclusive
  latency.with({"get"}).observe(2);
  latency.with({"get"}).observe(8);
  r.histogram("test_plain_seconds", "No labels.", {}, {1}).get().observe(0.5);
  r.counter("test_empty_total", "No series yet.", {"x"});
  r.counter("test_plain_total", "No labels.");

  EXPECT_EQ(r.expose(),
            "# HELP test_requests_total Requests, by \"path\".\\nSecond line \\\\ backslash\n"
            "# TYPE test_requests_total counter\n"
            "test_requests_total{path=\"/a\",code=\"200\"} 3\n"
            "test_requests_total{path=\"/b\\\"q\\\\\\n\",code=\"500\"} 1\n"
            "# HELP test_temperature A gauge.\n"
            "# TYPE test_temperature gauge\n"
            "test_temperature -1.5\n"
            "# HELP test_latency_seconds Latency.\n"
            "# TYPE test_latency_seconds histogram\n"
            "test_latency_seconds_bucket{op=\"get\",le=\"0.25\"} 2\n"
            "test_latency_seconds_bucket{op=\"get\",le=\"1\"} 2\n"
            "test_latency_seconds_bucket{op=\"get\",le=\"2.5\"} 3\n"
            "test_latency_seconds_bucket{op=\"get\",le=\"+Inf\"} 4\n"
            "test_latency_seconds_sum{op=\"get\"} 10.375\n"
            "test_latency_seconds_count{op=\"get\"} 4\n"
            "# HELP test_plain_seconds No labels.\n"
            "# TYPE test_plain_seconds histogram\n"
            "test_plain_seconds_bucket{le=\"1\"} 1\n"
            "test_plain_seconds_bucket{le=\"+Inf\"} 1\n"
            "test_plain_seconds_sum 0.5\n"
            "test_plain_seconds_count 1\n"
            "# HELP test_empty_total No series yet.\n"
            "# TYPE test_empty_total counter\n"
            "# HELP test_plain_total No labels.\n"
            "# TYPE test_plain_total counter\n"
            "test_plain_total 0\n");
}

TEST(RegistryTest, SampleValues) {
  EXPECT_EQ(format_sample_value(3), "3");
  EXPECT_EQ(format_sample_value(-7), "-7");
  EXPECT_EQ(format_sample_value(0.5), "0.5");
  EXPECT_EQ(format_sample_value(0.0001), "0.0001");
  EXPECT_EQ(format_sample_value(1234567), "1234567");
  EXPECT_EQ(format_sample_value(1e20), "1e+20");
  EXPECT_EQ(format_sample_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_sample_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_sample_value(std::nan("")), "NaN");
}

TEST(RegistryTest, CollectorsRunBeforeEachExposition) {
  Registry r;
  Gauge& g = r.gauge("test_live", "Set at scrape.").get();
  int calls = 0;
  r.on_collect([&] { g.set(++calls * 10); });
  EXPECT_NE(r.expose().find("test_live 10\n"), std::string::npos);
  EXPECT_NE(r.expose().find("test_live 20\n"), std::string::npos);
}

TEST(RegistryTest, ConcurrentUpdatesAreAllCounted) {
  Registry r;
  auto& c = r.counter("test_hits_total", "Hits.", {"thread"});
  auto& h = r.histogram("test_h", "H.", {}, {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        c.with({std::to_string(t % 2)}).inc();
        h.get().observe(i % 2 == 0 ? 0.5 : 2);
      }
    });
  }
  for (auto& t : threads) t.join();
  const std::string text = r.expose();
  EXPECT_NE(text.find("test_hits_total{thread=\"0\"} 20000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("test_hits_total{thread=\"1\"} 20000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("test_h_bucket{le=\"1\"} 20000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("test_h_count 40000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("test_h_sum 50000\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace stepd::server::observability
