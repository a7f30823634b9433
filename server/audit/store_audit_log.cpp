#include "server/audit/store_audit_log.hpp"

#include <algorithm>
#include <cassert>
#include <cstdio>
#include <iterator>
#include <utility>

namespace stepd::server {

using Clock = std::chrono::steady_clock;

namespace {

ApiError api_error(std::string type, std::string message) {
  return ApiError{std::move(type), std::move(message), {}};
}

ApiError store_error(const engine::Error& e, std::string_view doing) {
  return api_error(
      e.code == engine::ErrorCode::Unavailable ? "ServiceUnavailable" : "InternalError",
      std::string(doing) + ": " + e.message);
}

std::string entries(std::size_t n) { return std::to_string(n) + (n == 1 ? " entry" : " entries"); }

// The length of the well-formed UTF-8 sequence at s[i], or 0 when there is none.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  std::size_t n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
  if (n == 0 || c > 0xF4 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  const unsigned char d = byte(i + 1);
  if ((c == 0xE0 && d < 0xA0) || (c == 0xED && d > 0x9F) || (c == 0xF0 && d < 0x90) ||
      (c == 0xF4 && d > 0x8F)) {
    return 0;  // overlong, surrogate or beyond U+10FFFF
  }
  return n;
}

// What a caller sent is kept as text every store takes: a NUL becomes the six characters
// \u0000, bytes that are not UTF-8 become U+FFFD. (PostgreSQL refuses both in text; one such
// entry would otherwise block the log.)
std::string storable(std::string text) {
  bool clean = true;
  for (std::size_t i = 0; i < text.size() && clean;) {
    std::size_t n = utf8_sequence(text, i);
    clean = n != 0 && text[i] != '\0';
    i += n == 0 ? 1 : n;
  }
  if (clean) return text;
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    std::size_t n = utf8_sequence(text, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else if (text[i] == '\0') {
      out += "\\u0000";
      ++i;
    } else {
      out.append(text, i, n);
      i += n;
    }
  }
  return out;
}

}  // namespace

StoreAuditLog::StoreAuditLog(engine::Store& store) : StoreAuditLog(store, {}) {}

StoreAuditLog::StoreAuditLog(engine::Store& store, StoreAuditLogOptions options)
    : store_(store), options_(std::move(options)) {
  assert(options_.batch_size >= 1);
  assert(options_.capacity >= options_.batch_size);
  writer_ = std::thread([this] { run(); });
}

StoreAuditLog::~StoreAuditLog() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  writer_cv_.notify_all();
  space_cv_.notify_all();
  writer_.join();
}

void StoreAuditLog::record(AuditEntry entry) {
  for (std::string* field : {&entry.key_id, &entry.remote, &entry.operation, &entry.resource,
                             &entry.outcome, &entry.request_id}) {
    *field = storable(std::move(*field));
  }
  std::unique_lock lock(mu_);
  auto has_room = [&] { return pending_.size() + in_flight_ < options_.capacity || stopping_; };
  if (!has_room()) {
    ++stats_.record_waits;
    space_cv_.wait(lock, has_room);
  }
  entry.id = 0;
  pending_.push_back(Pending{Clock::now(), std::move(entry)});
  ++stats_.recorded;
  // The writer sleeps without a deadline while nothing waits, and until the oldest entry is due
  // otherwise: wake it for the first entry and for a full batch.
  if (pending_.size() == 1 || pending_.size() == options_.batch_size) writer_cv_.notify_one();
}

engine::Status StoreAuditLog::flush() {
  std::unique_lock lock(mu_);
  const std::uint64_t target = stats_.recorded;
  if (stats_.written >= target) return {};
  const std::uint64_t request = ++flush_requests_;
  writer_cv_.notify_one();
  flushed_cv_.wait(
      lock, [&] { return stats_.written >= target || failed_for_ >= request || writer_done_; });
  if (stats_.written >= target) return {};
  if (last_error_) return *last_error_;
  return engine::Error{engine::ErrorCode::Unavailable, "the audit log writer has stopped"};
}

ApiResult<Page<AuditEntry>> StoreAuditLog::list(const AuditFilter& filter,
                                                const PageRequest& page) {
  if (page.max_results < 1 || page.max_results > 1000) {
    return api_error("ValidationException", "max_results must be between 1 and 1000, got " +
                                                std::to_string(page.max_results));
  }
  if (engine::Status s = flush(); !s.ok()) {
    return store_error(s.error(), "cannot write the audit log");
  }
  engine::Result<Page<AuditEntry>> r = store_.list_audit(filter, page);
  if (!r.ok()) {
    if (r.error().code == engine::ErrorCode::InvalidArgument) {
      return api_error("InvalidToken", r.error().message);
    }
    return store_error(r.error(), "cannot read the audit log");
  }
  return std::move(*r);
}

StoreAuditLog::Stats StoreAuditLog::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void StoreAuditLog::report(const std::string& line) {
  if (options_.report) {
    options_.report(line);
    return;
  }
  std::fprintf(stderr, "stepd: %s\n", line.c_str());
  std::fflush(stderr);
}

void StoreAuditLog::run() {
  std::unique_lock lock(mu_);
  std::chrono::milliseconds backoff = options_.retry_initial;
  Clock::time_point retry_at{};  // after a refused append: the next try, unless a flush asks
  std::uint64_t failures_in_a_row = 0;
  std::optional<Clock::time_point> give_up_at;  // set once stopping
  for (;;) {
    if (stopping_ && !give_up_at) give_up_at = Clock::now() + options_.shutdown_timeout;
    if (pending_.empty()) {
      if (stopping_) break;
      writer_cv_.wait(lock);
      continue;
    }
    // When to append: the oldest entry's deadline, or at once for a full batch, a flush or
    // shutdown. After a refused append: when the back-off ends (the entries were due already),
    // or at once when a flush asks.
    const Clock::time_point now = Clock::now();
    const bool asked = flush_requests_ > flush_served_;
    Clock::time_point due = pending_.front().at + options_.flush_interval;
    if (pending_.size() >= options_.batch_size || stopping_) due = now;
    if (failures_in_a_row > 0) due = retry_at;
    if (asked) due = now;
    if (now < due) {
      writer_cv_.wait_until(lock, due);
      continue;
    }

    const std::uint64_t serving = flush_requests_;
    flush_served_ = serving;
    const std::size_t n = std::min(pending_.size(), options_.batch_size);
    std::vector<Pending> taken(std::make_move_iterator(pending_.begin()),
                               std::make_move_iterator(pending_.begin() + n));
    pending_.erase(pending_.begin(), pending_.begin() + n);
    in_flight_ = n;
    lock.unlock();

    std::vector<AuditEntry> batch;
    batch.reserve(n);
    for (const Pending& p : taken) batch.push_back(p.entry);
    engine::Status s = store_.append_audit(batch);
    std::string line;

    lock.lock();
    in_flight_ = 0;
    if (s.ok()) {
      stats_.written += n;
      ++stats_.appends;
      if (failures_in_a_row > 0) {
        line = "audit log: the store accepts entries again after " +
               std::to_string(failures_in_a_row) + " refused append" +
               (failures_in_a_row == 1 ? "" : "s");
      }
      failures_in_a_row = 0;
      backoff = options_.retry_initial;
      retry_at = {};
    } else {
      // Back in front, in their order, for the next try.
      pending_.insert(pending_.begin(), std::make_move_iterator(taken.begin()),
                      std::make_move_iterator(taken.end()));
      ++stats_.failed_appends;
      ++failures_in_a_row;
      failed_for_ = serving;
      last_error_ = s.error();
      const Clock::time_point failed_at = Clock::now();
      if (give_up_at && failed_at >= *give_up_at) {
        stats_.lost += pending_.size();
        line = "audit log: giving up at shutdown: " + entries(pending_.size()) +
               " lost: " + s.error().message;
        pending_.clear();
      } else {
        line = "audit log: the store refused " + entries(n) + " (" + entries(pending_.size()) +
               " waiting); retrying in " + std::to_string(backoff.count()) +
               " ms: " + s.error().message;
        retry_at = failed_at + backoff;
        backoff = std::min(backoff * 2, options_.retry_max);
      }
    }
    // Told before flush() returns the failure it is about.
    if (!line.empty()) {
      lock.unlock();
      report(line);
      lock.lock();
    }
    flushed_cv_.notify_all();
    space_cv_.notify_all();
  }
  writer_done_ = true;
  flushed_cv_.notify_all();
  space_cv_.notify_all();
}

}  // namespace stepd::server
