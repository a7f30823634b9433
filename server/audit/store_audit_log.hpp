// The audit log kept in the Store (engine::Store::append_audit / list_audit), written behind the
// API calls: an API call pays no store transaction for its audit entry.
//
// record() only appends the entry to an in-memory buffer; a background writer thread appends
// what is buffered to the store in one transaction (one append_audit call) per batch: when the
// oldest buffered entry is `flush_interval` old (~50 ms), when `batch_size` (500) entries are
// waiting, when flush() or list() asks, and when the log is destroyed. Entries reach the store
// in the order record() took them, so their ids follow that order.
//
// Durability: an entry is durable once a flush that covers it has returned. A crash (kill -9,
// power loss) loses the entries recorded in the last few milliseconds before it (at most about
// `flush_interval`, longer while the store refuses writes), although the calls they describe
// may have taken effect. A clean shutdown (the destructor) loses nothing unless the store keeps
// refusing for `shutdown_timeout`; then the number of entries lost is reported.
//
// Failures: when the store refuses a batch, the writer keeps it (first in line), reports the
// error through `report` (stderr by default) and tries again after a back-off that doubles
// from `retry_initial` up to `retry_max`; a flush() asked for meanwhile tries at once. Nothing is
// dropped silently: when `capacity` entries are waiting (the store has been refusing for a
// while), record() blocks until the writer makes room.
//
// Threads: every method is thread-safe. `store` must outlive the log; no method may be called
// once the destructor has started.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/store/store.hpp"
#include "server/operations/operations.hpp"

namespace stepd::server {

struct StoreAuditLogOptions {
  // The longest an entry waits in memory before the writer appends it (when the store accepts).
  std::chrono::milliseconds flush_interval{50};
  // The writer appends at once when this many entries wait; also the most in one append.
  std::size_t batch_size = 500;
  // record() blocks while this many entries are waiting or being appended. >= batch_size.
  std::size_t capacity = 10'000;
  // Back-off after the store refuses a batch: doubles from retry_initial up to retry_max.
  std::chrono::milliseconds retry_initial{10};
  std::chrono::milliseconds retry_max{2'000};
  // How long the destructor keeps retrying a refusing store before it gives up (and reports
  // how many entries are lost).
  std::chrono::milliseconds shutdown_timeout{5'000};
  // Told about every refused batch, recovery and loss, one line each, from the writer thread;
  // must not block or call back into the log. Unset: the line goes to stderr.
  std::function<void(std::string_view line)> report;
};

class StoreAuditLog final : public AuditLog {
 public:
  explicit StoreAuditLog(engine::Store& store);
  StoreAuditLog(engine::Store& store, StoreAuditLogOptions options);
  // Appends everything still buffered (see the header comment for a refusing store), then stops
  // the writer.
  ~StoreAuditLog() override;
  StoreAuditLog(const StoreAuditLog&) = delete;
  StoreAuditLog& operator=(const StoreAuditLog&) = delete;

  // Buffers the entry (its id is ignored: the store assigns one). Returns at once unless
  // `capacity` entries are waiting; then waits for room.
  void record(AuditEntry entry) override;

  // Flushes (so a caller sees its own entries), then reads the store: newest first, filtered,
  // a page at a time. Errors: ValidationException "max_results must be between 1 and 1000, got
  // <n>"; InvalidToken "invalid next_token"; ServiceUnavailable / InternalError when the store
  // refuses the flush or the read (the message says which).
  ApiResult<Page<AuditEntry>> list(const AuditFilter& filter, const PageRequest& page) override;

  // Returns once every entry recorded before the call (by any thread) is in the store. When the
  // store refuses an append made for this flush, returns that error at once; the entries stay
  // buffered and the writer keeps retrying them.
  engine::Status flush();

  struct Stats {
    std::uint64_t recorded = 0;        // entries given to record()
    std::uint64_t written = 0;         // of which in the store
    std::uint64_t appends = 0;         // append_audit calls the store accepted
    std::uint64_t failed_appends = 0;  // ... and refused
    std::uint64_t lost = 0;            // given up at shutdown
    std::uint64_t record_waits = 0;    // record() calls that had to wait for room
  };
  Stats stats() const;

 private:
  struct Pending {
    std::chrono::steady_clock::time_point at;  // when record() took it
    AuditEntry entry;
  };

  void run();  // the writer thread
  void report(const std::string& line);

  engine::Store& store_;
  const StoreAuditLogOptions options_;

  mutable std::mutex mu_;
  std::condition_variable writer_cv_;   // wakes the writer: work, a flush asked, stopping
  std::condition_variable space_cv_;    // wakes record() waiting for room
  std::condition_variable flushed_cv_;  // wakes flush(): entries written, or an append failed
  std::deque<Pending> pending_;         // oldest first
  std::size_t in_flight_ = 0;           // entries the writer is appending now
  Stats stats_;
  std::uint64_t flush_requests_ = 0;  // flush() calls so far (each one's number)
  std::uint64_t flush_served_ = 0;    // the newest flush request an append was started for
  std::uint64_t failed_for_ = 0;      // the newest flush request an append failed for
  std::optional<engine::Error> last_error_;
  bool stopping_ = false;
  bool writer_done_ = false;
  std::thread writer_;
};

}  // namespace stepd::server
