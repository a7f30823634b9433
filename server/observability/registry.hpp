// A small Prometheus metrics registry: counters, gauges and histograms, each a family of series
// told apart by label values, written out in the text exposition format 0.0.4 (what /metrics
// answers).
//
//   Registry r;
//   auto& requests = r.counter("stepd_http_requests_total", "HTTP requests.", {"route", "status"});
//   requests.with({"aws", "200"}).inc();
//   std::string text = r.expose();
//
// Families come out in the order they were registered, the series of a family sorted by label
// values. A family without labels has its one series from the start (it shows 0).
//
// Threads: everything is thread-safe. A reference returned by with() stays valid as long as the
// registry lives; keeping it saves the lookup on hot paths.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace stepd::server::observability {

class Counter {
 public:
  // REQUIRES: v >= 0 (a counter only goes up).
  void inc(double v = 1.0);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void inc(double v = 1.0) { value_.fetch_add(v, std::memory_order_relaxed); }
  void dec(double v = 1.0) { value_.fetch_sub(v, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Histogram {
 public:
  // `bounds`: the upper bounds of the buckets, ascending (+Inf is implied).
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<unsigned long long> cumulative;  // one per bound, then +Inf (== count)
    double sum = 0;
  };
  Snapshot snapshot() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<unsigned long long>[]> counts_;  // bounds_.size() + 1
  std::atomic<double> sum_{0.0};
};

enum class MetricType { Counter, Gauge, Histogram };

// The series of one metric name.
template <typename T>
class Family {
 public:
  // The series with these label values (in the order the label names were given), created at
  // the first use. REQUIRES: values.size() == the number of label names.
  T& with(const std::vector<std::string>& values);
  // The series of a family without labels.
  T& get() { return with({}); }

 private:
  friend class Registry;
  Family(std::string name, std::string help, MetricType type, std::vector<std::string> labels,
         std::vector<double> bounds);

  std::string name_;
  std::string help_;
  MetricType type_;
  std::vector<std::string> labels_;
  std::vector<double> bounds_;  // histograms
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> series_;
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

// Bucket bounds: `count` bounds from `start`, each `factor` times the one before.
std::vector<double> exponential_buckets(double start, double factor, int count);

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // REQUIRES: a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) not registered before; valid label
  // names, none of them "le" for a histogram.
  CounterFamily& counter(const std::string& name, const std::string& help,
                         std::vector<std::string> labels = {});
  GaugeFamily& gauge(const std::string& name, const std::string& help,
                     std::vector<std::string> labels = {});
  HistogramFamily& histogram(const std::string& name, const std::string& help,
                             std::vector<std::string> labels, std::vector<double> bounds);

  // Runs before every expose(): sets gauges from live state (e.g. the engine's counters).
  void on_collect(std::function<void()> collect);

  // The text exposition format 0.0.4 of every family.
  std::string expose() const;

 private:
  struct Entry;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_;
  std::vector<std::function<void()>> collectors_;
};

// The Content-Type of expose()'s text.
inline constexpr const char* kExpositionContentType = "text/plain; version=0.0.4; charset=utf-8";

// Exposed for tests: a label value or HELP text escaped as the format wants; a sample value as
// written (integers without a fraction, +Inf, -Inf, NaN).
std::string escape_label_value(const std::string& v);
std::string escape_help(const std::string& v);
std::string format_sample_value(double v);

}  // namespace stepd::server::observability
