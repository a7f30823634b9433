#include "server/observability/registry.hpp"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cmath>
#include <variant>

namespace stepd::server::observability {

void Counter::inc(double v) {
  assert(v >= 0);
  value_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      counts_(std::make_unique<std::atomic<unsigned long long>[]>(bounds_.size() + 1)) {
  assert(std::is_sorted(bounds_.begin(), bounds_.end()));
}

void Histogram::observe(double v) {
  const auto at = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  counts_[at].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.bounds = bounds_;
  unsigned long long running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

namespace {

template <typename T>
std::unique_ptr<T> make_series(const std::vector<double>& bounds) {
  (void)bounds;
  return std::make_unique<T>();
}
template <>
std::unique_ptr<Histogram> make_series<Histogram>(const std::vector<double>& bounds) {
  return std::make_unique<Histogram>(bounds);
}

[[maybe_unused]] bool valid_name(const std::string& name, bool allow_colon) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
    const bool digit = c >= '0' && c <= '9';
    if (!(alpha || (i > 0 && digit))) return false;
  }
  return true;
}

}  // namespace

template <typename T>
Family<T>::Family(std::string name, std::string help, MetricType type,
                  std::vector<std::string> labels, std::vector<double> bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      labels_(std::move(labels)),
      bounds_(std::move(bounds)) {
  if (labels_.empty()) series_.emplace(std::vector<std::string>{}, make_series<T>(bounds_));
}

template <typename T>
T& Family<T>::with(const std::vector<std::string>& values) {
  assert(values.size() == labels_.size());
  std::lock_guard lock(mu_);
  auto it = series_.find(values);
  if (it == series_.end()) it = series_.emplace(values, make_series<T>(bounds_)).first;
  return *it->second;
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

std::vector<double> exponential_buckets(double start, double factor, int count) {
  std::vector<double> out;
  double v = start;
  for (int i = 0; i < count; ++i) {
    out.push_back(v);
    v *= factor;
  }
  return out;
}

struct Registry::Entry {
  std::variant<std::unique_ptr<CounterFamily>, std::unique_ptr<GaugeFamily>,
               std::unique_ptr<HistogramFamily>>
      family;
};

Registry::Registry() = default;
Registry::~Registry() = default;

CounterFamily& Registry::counter(const std::string& name, const std::string& help,
                                 std::vector<std::string> labels) {
  assert(valid_name(name, true));
  for ([[maybe_unused]] const auto& l : labels) assert(valid_name(l, false));
  auto* f = new CounterFamily(name, help, MetricType::Counter, std::move(labels), {});
  std::lock_guard lock(mu_);
  entries_.push_back(std::make_unique<Entry>(Entry{std::unique_ptr<CounterFamily>(f)}));
  return *f;
}

GaugeFamily& Registry::gauge(const std::string& name, const std::string& help,
                             std::vector<std::string> labels) {
  assert(valid_name(name, true));
  for ([[maybe_unused]] const auto& l : labels) assert(valid_name(l, false));
  auto* f = new GaugeFamily(name, help, MetricType::Gauge, std::move(labels), {});
  std::lock_guard lock(mu_);
  entries_.push_back(std::make_unique<Entry>(Entry{std::unique_ptr<GaugeFamily>(f)}));
  return *f;
}

HistogramFamily& Registry::histogram(const std::string& name, const std::string& help,
                                     std::vector<std::string> labels, std::vector<double> bounds) {
  assert(valid_name(name, true));
  for ([[maybe_unused]] const auto& l : labels) assert(valid_name(l, false) && l != "le");
  auto* f =
      new HistogramFamily(name, help, MetricType::Histogram, std::move(labels), std::move(bounds));
  std::lock_guard lock(mu_);
  entries_.push_back(std::make_unique<Entry>(Entry{std::unique_ptr<HistogramFamily>(f)}));
  return *f;
}

void Registry::on_collect(std::function<void()> collect) {
  std::lock_guard lock(mu_);
  collectors_.push_back(std::move(collect));
}

namespace {

// `v` with backslash and line feed escaped as the text format writes them, and '"' too when
// `quote` is set.
std::string escape_text(const std::string& v, bool quote) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

std::string escape_label_value(const std::string& v) { return escape_text(v, true); }

std::string escape_help(const std::string& v) { return escape_text(v, false); }

std::string format_sample_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    return std::to_string(static_cast<long long>(v));
  }
  char buf[512];
  // Plain decimals for the usual magnitudes ("0.0001", not "1e-04"), the shortest form else.
  const double a = std::fabs(v);
  auto r = a >= 1e-6 && a < 1e15 ? std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed)
                                 : std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

namespace {

// `{a="x",b="y"` + extra + `}`, or "" when there is nothing to write.
std::string label_set(const std::vector<std::string>& names, const std::vector<std::string>& values,
                      const std::string& extra = "") {
  if (names.empty() && extra.empty()) return "";
  std::string out = "{";
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out.push_back(',');
    out += names[i];
    out += "=\"";
    out += escape_label_value(values[i]);
    out.push_back('"');
  }
  if (!extra.empty()) {
    if (!names.empty()) out.push_back(',');
    out += extra;
  }
  out.push_back('}');
  return out;
}

void write_header(std::string& out, const std::string& name, const std::string& help,
                  std::string_view type) {
  out += "# HELP " + name + " " + escape_help(help) + "\n";
  out += "# TYPE " + name + " ";
  out += type;
  out.push_back('\n');
}

}  // namespace

std::string Registry::expose() const {
  std::vector<std::function<void()>> collectors;
  {
    std::lock_guard lock(mu_);
    collectors = collectors_;
  }
  for (auto& c : collectors) c();

  std::string out;
  std::lock_guard lock(mu_);
  for (const auto& e : entries_) {
    std::visit(
        [&](const auto& family) {
          using F = std::decay_t<decltype(*family)>;
          const F& f = *family;
          std::lock_guard family_lock(f.mu_);
          if constexpr (std::is_same_v<F, HistogramFamily>) {
            write_header(out, f.name_, f.help_, "histogram");
            for (const auto& [values, h] : f.series_) {
              const Histogram::Snapshot s = h->snapshot();
              for (std::size_t i = 0; i <= s.bounds.size(); ++i) {
                const std::string le =
                    i < s.bounds.size() ? format_sample_value(s.bounds[i]) : "+Inf";
                out += f.name_ + "_bucket" + label_set(f.labels_, values, "le=\"" + le + "\"") +
                       " " + std::to_string(s.cumulative[i]) + "\n";
              }
              out += f.name_ + "_sum" + label_set(f.labels_, values) + " " +
                     format_sample_value(s.sum) + "\n";
              out += f.name_ + "_count" + label_set(f.labels_, values) + " " +
                     std::to_string(s.cumulative.back()) + "\n";
            }
          } else {
            write_header(out, f.name_, f.help_,
                         std::is_same_v<F, CounterFamily> ? "counter" : "gauge");
            for (const auto& [values, series] : f.series_) {
              out += f.name_ + label_set(f.labels_, values) + " " +
                     format_sample_value(series->value()) + "\n";
            }
          }
        },
        e->family);
  }
  return out;
}

}  // namespace stepd::server::observability
