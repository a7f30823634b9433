// StoreAuditLog over a real store (SQLite file, and PostgreSQL when STEPD_TEST_PG_URL is set),
// watched and disturbed through ProbeStore.
#include "server/audit/store_audit_log.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "probe_store.hpp"
#include "tests/support/scratch_database.hpp"

namespace stepd::server::test {
namespace {

using ::stepd::test::kNoPostgres;
using ::stepd::test::ScratchDatabase;

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Clock = std::chrono::steady_clock;

constexpr engine::Micros kT0 = 1'700'000'000'000'000;

AuditEntry entry(int i, const std::string& key = "admin") {
  return AuditEntry{0,
                    kT0 + i,
                    key,
                    "10.1.1.1:4711",
                    "StartExecution",
                    "arn:aws:states:local:000000000000:stateMachine:M",
                    "ok",
                    "req-" + std::to_string(i)};
}

std::vector<std::string> request_ids(const std::vector<AuditEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.request_id);
  return out;
}

// "req-<to>", "req-<to - 1>", ..., "req-<from>": newest first.
std::vector<std::string> newest_first(int from, int to) {
  std::vector<std::string> out;
  for (int i = to; i >= from; --i) out.push_back("req-" + std::to_string(i));
  return out;
}

// Polls `done` every few milliseconds for up to `limit`.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
  const auto until = Clock::now() + limit;
  while (Clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return done();
}

std::string describe(const engine::Status& s) {
  return s.ok() ? "OK" : std::string(engine::to_string(s.error().code)) + ": " + s.error().message;
}

class StoreAuditLogTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    db_ = std::make_unique<ScratchDatabase>(GetParam(), "ops");
    if (db_->url().empty()) GTEST_SKIP() << kNoPostgres;
    auto store = engine::open_store(db_->url());
    ASSERT_TRUE(store.ok()) << store.error().message;
    probe_ = std::make_unique<ProbeStore>(std::move(*store));
    engine::Status migrated = probe_->migrate();
    ASSERT_TRUE(migrated.ok()) << describe(migrated);
  }

  // A log that reports into reports().
  StoreAuditLog& open_log(StoreAuditLogOptions options) {
    options.report = [this](std::string_view line) {
      std::lock_guard lock(reports_mu_);
      reports_.emplace_back(line);
    };
    log_ = std::make_unique<StoreAuditLog>(*probe_, std::move(options));
    return *log_;
  }

  std::vector<std::string> reports() {
    std::lock_guard lock(reports_mu_);
    return reports_;
  }

  // What the store holds, newest first, read directly (no flush).
  std::vector<AuditEntry> stored() {
    std::vector<AuditEntry> out;
    engine::PageRequest page{1000, ""};
    for (;;) {
      auto p = probe_->inner().list_audit({}, page);
      EXPECT_TRUE(p.ok()) << p.error().message;
      if (!p.ok()) return out;
      out.insert(out.end(), p->items.begin(), p->items.end());
      if (p->next_token.empty()) return out;
      page.next_token = p->next_token;
    }
  }

  static StoreAuditLogOptions slow_timer() {
    StoreAuditLogOptions o;
    o.flush_interval = 1h;  // nothing is written on the timer during a test
    return o;
  }

  std::unique_ptr<ScratchDatabase> db_;
  std::unique_ptr<ProbeStore> probe_;
  std::mutex reports_mu_;
  std::vector<std::string> reports_;
  std::unique_ptr<StoreAuditLog> log_;  // destroyed first
};

INSTANTIATE_TEST_SUITE_P(Backends, StoreAuditLogTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

TEST_P(StoreAuditLogTest, RecordBuffersAndFlushWritesOneTransaction) {
  StoreAuditLog& log = open_log(slow_timer());
  for (int i = 0; i < 100; ++i) log.record(entry(i));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(probe_->appends(), 0);
  EXPECT_THAT(stored(), IsEmpty());

  ASSERT_EQ(describe(log.flush()), "OK");
  EXPECT_THAT(probe_->batch_sizes(), ElementsAre(100u));
  std::vector<AuditEntry> got = stored();
  EXPECT_EQ(request_ids(got), newest_first(0, 99));
  // Stored as recorded, ids assigned by the store in record order.
  for (std::size_t i = 0; i < got.size(); ++i) {
    AuditEntry want = entry(99 - static_cast<int>(i));
    want.id = got[i].id;
    EXPECT_EQ(got[i], want);
    if (i > 0) {
      EXPECT_LT(got[i].id, got[i - 1].id);
    }
  }
  // Nothing left: another flush does not touch the store.
  ASSERT_EQ(describe(log.flush()), "OK");
  EXPECT_EQ(probe_->appends(), 1);
  StoreAuditLog::Stats stats = log.stats();
  EXPECT_EQ(stats.recorded, 100u);
  EXPECT_EQ(stats.written, 100u);
  EXPECT_EQ(stats.appends, 1u);
  EXPECT_EQ(stats.failed_appends, 0u);
}

TEST_P(StoreAuditLogTest, WritesOnItsOwnOnceTheOldestEntryIsDue) {
  StoreAuditLogOptions options;
  options.flush_interval = 50ms;
  StoreAuditLog& log = open_log(options);
  const auto t0 = Clock::now();
  for (int i = 0; i < 3; ++i) log.record(entry(i));
  ASSERT_TRUE(eventually([&] { return probe_->appends() == 1; }));
  const auto waited = Clock::now() - t0;
  EXPECT_GE(waited, 50ms);  // buffered, not written by record()
  EXPECT_THAT(probe_->batch_sizes(), ElementsAre(3u));
  EXPECT_EQ(request_ids(stored()), newest_first(0, 2));

  // The next entries wait for their own deadline.
  log.record(entry(3));
  ASSERT_TRUE(eventually([&] { return probe_->appends() == 2; }));
  EXPECT_THAT(probe_->batch_sizes(), ElementsAre(3u, 1u));
}

TEST_P(StoreAuditLogTest, AFullBatchIsWrittenAtOnce) {
  StoreAuditLogOptions options = slow_timer();
  options.batch_size = 100;
  options.capacity = 1000;
  StoreAuditLog& log = open_log(options);
  for (int i = 0; i < 250; ++i) log.record(entry(i));
  ASSERT_TRUE(eventually([&] { return stored().size() == 200u; }));
  std::this_thread::sleep_for(100ms);
  EXPECT_THAT(probe_->batch_sizes(), ElementsAre(100u, 100u));  // the 50 wait for their time
  ASSERT_EQ(describe(log.flush()), "OK");
  EXPECT_THAT(probe_->batch_sizes(), ElementsAre(100u, 100u, 50u));
  EXPECT_EQ(request_ids(stored()), newest_first(0, 249));
}

TEST_P(StoreAuditLogTest, ListFlushesFirstSoCallersSeeTheirOwnEntries) {
  StoreAuditLog& log = open_log(slow_timer());
  log.record(entry(0, "alice"));
  log.record(entry(1, "bob"));
  log.record(entry(2, "alice"));
  auto all = log.list({}, engine::PageRequest{2, ""});
  ASSERT_TRUE(std::holds_alternative<Page<AuditEntry>>(all)) << std::get<ApiError>(all).message;
  const auto& first = std::get<Page<AuditEntry>>(all);
  EXPECT_EQ(request_ids(first.items), newest_first(1, 2));
  ASSERT_NE(first.next_token, "");
  auto rest = log.list({}, engine::PageRequest{2, first.next_token});
  ASSERT_TRUE(std::holds_alternative<Page<AuditEntry>>(rest));
  EXPECT_EQ(request_ids(std::get<Page<AuditEntry>>(rest).items), newest_first(0, 0));
  EXPECT_EQ(std::get<Page<AuditEntry>>(rest).next_token, "");

  log.record(entry(3, "bob"));
  auto bob = log.list({"bob", "", ""}, engine::PageRequest{10, ""});
  ASSERT_TRUE(std::holds_alternative<Page<AuditEntry>>(bob));
  EXPECT_THAT(request_ids(std::get<Page<AuditEntry>>(bob).items), ElementsAre("req-3", "req-1"));
  EXPECT_THAT(probe_->batch_sizes(), ElementsAre(3u, 1u));
}

TEST_P(StoreAuditLogTest, ListRefusesBadPages) {
  StoreAuditLog& log = open_log(slow_timer());
  auto too_small = log.list({}, engine::PageRequest{0, ""});
  ASSERT_TRUE(std::holds_alternative<ApiError>(too_small));
  EXPECT_EQ(std::get<ApiError>(too_small).type, "ValidationException");
  EXPECT_EQ(std::get<ApiError>(too_small).message, "max_results must be between 1 and 1000, got 0");
  auto too_big = log.list({}, engine::PageRequest{1001, ""});
  ASSERT_TRUE(std::holds_alternative<ApiError>(too_big));
  EXPECT_EQ(std::get<ApiError>(too_big).message,
            "max_results must be between 1 and 1000, got 1001");
  auto bad_token = log.list({}, engine::PageRequest{10, "garbage"});
  ASSERT_TRUE(std::holds_alternative<ApiError>(bad_token));
  EXPECT_EQ(std::get<ApiError>(bad_token).type, "InvalidToken");
  EXPECT_EQ(std::get<ApiError>(bad_token).message, "invalid next_token");
}

TEST_P(StoreAuditLogTest, DestructionWritesWhatIsBuffered) {
  StoreAuditLog& log = open_log(slow_timer());
  for (int i = 0; i < 7; ++i) log.record(entry(i));
  EXPECT_EQ(probe_->appends(), 0);
  log_.reset();
  EXPECT_THAT(probe_->batch_sizes(), ElementsAre(7u));
  EXPECT_EQ(request_ids(stored()), newest_first(0, 6));
  EXPECT_THAT(reports(), IsEmpty());
}

TEST_P(StoreAuditLogTest, RefusedAppendsAreRetriedWithBackoffAndReported) {
  StoreAuditLogOptions options = slow_timer();
  options.retry_initial = 20ms;
  options.retry_max = 80ms;
  StoreAuditLog& log = open_log(options);
  probe_->refuse_appends(true);
  for (int i = 0; i < 5; ++i) log.record(entry(i));

  // A flush during the outage tries at once and says why it failed.
  engine::Status s = log.flush();
  EXPECT_EQ(describe(s), std::string("Unavailable: ") + ProbeStore::kRefusal);
  ASSERT_FALSE(reports().empty());
  EXPECT_EQ(reports()[0],
            std::string(
                "audit log: the store refused 5 entries (5 entries waiting); retrying in 20 ms: ") +
                ProbeStore::kRefusal);
  auto listed = log.list({}, engine::PageRequest{10, ""});
  ASSERT_TRUE(std::holds_alternative<ApiError>(listed));
  EXPECT_EQ(std::get<ApiError>(listed).type, "ServiceUnavailable");
  EXPECT_EQ(std::get<ApiError>(listed).message,
            std::string("cannot write the audit log: ") + ProbeStore::kRefusal);

  // The writer keeps trying by itself, backing off (20, 40, 80, 80 ... ms), not hammering.
  log.record(entry(5));
  std::this_thread::sleep_for(400ms);
  const int refused = probe_->refused();
  EXPECT_GE(refused, 4);
  EXPECT_LE(refused, 12);
  std::vector<std::string> lines = reports();
  ASSERT_GE(lines.size(), 4u);
  std::vector<std::string> delays;
  for (const std::string& line : lines) {
    auto at = line.find("retrying in ");
    auto ms = line.find(" ms:");
    if (at != std::string::npos && ms != std::string::npos) {
      delays.push_back(line.substr(at + 12, ms - at - 12));
    }
  }
  ASSERT_GE(delays.size(), 4u);
  // The first two refusals (the flush's and list's) came quickly; the doubling caps at 80.
  EXPECT_THAT(std::vector<std::string>(delays.begin(), delays.begin() + 4),
              ElementsAre("20", "40", "80", "80"));
  EXPECT_THAT(stored(), IsEmpty());

  // The store comes back: everything lands without anyone asking, in record order.
  probe_->refuse_appends(false);
  ASSERT_TRUE(eventually([&] { return stored().size() == 6u; }, 3s));
  EXPECT_EQ(request_ids(stored()), newest_first(0, 5));
  ASSERT_TRUE(eventually([&] {
    auto l = reports();
    return !l.empty() && l.back().starts_with("audit log: the store accepts entries again after ");
  }));
  EXPECT_EQ(reports().back(), "audit log: the store accepts entries again after " +
                                  std::to_string(probe_->refused()) + " refused appends");
  EXPECT_EQ(describe(log.flush()), "OK");
  StoreAuditLog::Stats stats = log.stats();
  EXPECT_EQ(stats.written, 6u);
  EXPECT_EQ(stats.failed_appends, static_cast<std::uint64_t>(probe_->refused()));
  EXPECT_EQ(stats.lost, 0u);
}

TEST_P(StoreAuditLogTest, AFullBufferMakesRecordWaitAndDropsNothing) {
  StoreAuditLogOptions options = slow_timer();
  options.capacity = 10;
  options.batch_size = 10;
  options.retry_initial = 10ms;
  options.retry_max = 20ms;
  StoreAuditLog& log = open_log(options);
  probe_->refuse_appends(true);
  for (int i = 0; i < 10; ++i) log.record(entry(i));
  std::atomic<bool> returned{false};
  std::thread recorder([&] {
    log.record(entry(10));
    returned = true;
  });
  std::this_thread::sleep_for(150ms);
  EXPECT_FALSE(returned.load());  // full: waits instead of dropping
  EXPECT_EQ(log.stats().record_waits, 1u);
  probe_->refuse_appends(false);
  recorder.join();
  EXPECT_TRUE(returned.load());
  ASSERT_EQ(describe(log.flush()), "OK");
  EXPECT_EQ(request_ids(stored()), newest_first(0, 10));
  EXPECT_EQ(log.stats().lost, 0u);
}

TEST_P(StoreAuditLogTest, ShutdownGivesUpOnARefusingStoreAndSaysWhatIsLost) {
  StoreAuditLogOptions options = slow_timer();
  options.retry_initial = 10ms;
  options.retry_max = 20ms;
  options.shutdown_timeout = 100ms;
  open_log(options);
  probe_->refuse_appends(true);
  for (int i = 0; i < 3; ++i) log_->record(entry(i));
  const auto t0 = Clock::now();
  log_.reset();
  EXPECT_LT(Clock::now() - t0, 3s);
  ASSERT_FALSE(reports().empty());
  EXPECT_EQ(reports().back(), std::string("audit log: giving up at shutdown: 3 entries lost: ") +
                                  ProbeStore::kRefusal);
  EXPECT_THAT(stored(), IsEmpty());
}

TEST_P(StoreAuditLogTest, RecordDoesNotWaitForASlowStore) {
  StoreAuditLogOptions options;
  options.flush_interval = 1ms;
  StoreAuditLog& log = open_log(options);
  probe_->close_gate();
  log.record(entry(0));
  ASSERT_TRUE(eventually([&] { return probe_->waiting_at_gate() == 1; }));
  // The writer is stuck in the store; recording goes on regardless.
  auto recording = std::async(std::launch::async, [&] {
    for (int i = 1; i <= 200; ++i) log.record(entry(i));
  });
  ASSERT_EQ(recording.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(probe_->appends(), 0);
  probe_->open_gate();
  ASSERT_EQ(describe(log.flush()), "OK");
  EXPECT_EQ(request_ids(stored()), newest_first(0, 200));
  std::vector<std::size_t> sizes = probe_->batch_sizes();
  ASSERT_GE(sizes.size(), 2u);
  EXPECT_EQ(sizes[0], 1u);
}

TEST_P(StoreAuditLogTest, ConcurrentRecordersKeepTheirOrderInFewTransactions) {
  StoreAuditLogOptions options;
  options.flush_interval = 5ms;
  options.batch_size = 100;
  options.capacity = 1000;
  StoreAuditLog& log = open_log(options);
  constexpr int kThreads = 4;
  constexpr int kEach = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        AuditEntry e = entry(i, "k" + std::to_string(t));
        e.request_id = "k" + std::to_string(t) + "-" + std::to_string(i);
        log.record(std::move(e));
        if (i % 100 == 99) {
          EXPECT_EQ(describe(log.flush()), "OK");
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(describe(log.flush()), "OK");
  std::vector<AuditEntry> all = stored();
  ASSERT_EQ(all.size(), static_cast<std::size_t>(kThreads * kEach));
  for (int t = 0; t < kThreads; ++t) {
    std::vector<std::string> mine;
    for (const auto& e : all) {
      if (e.key_id == "k" + std::to_string(t)) mine.push_back(e.request_id);
    }
    ASSERT_EQ(mine.size(), static_cast<std::size_t>(kEach));
    for (int i = 0; i < kEach; ++i) {
      EXPECT_EQ(mine[static_cast<std::size_t>(i)],
                "k" + std::to_string(t) + "-" + std::to_string(kEach - 1 - i));
    }
  }
  std::size_t total = 0;
  for (std::size_t n : probe_->batch_sizes()) {
    EXPECT_LE(n, 100u);
    total += n;
  }
  EXPECT_EQ(total, static_cast<std::size_t>(kThreads * kEach));
  EXPECT_LT(probe_->appends(), kThreads * kEach / 5);  // batched, not one per record
}

}  // namespace
}  // namespace stepd::server::test

namespace stepd::server::test {
namespace {

// A caller's NUL or bytes that are not UTF-8 (an ARN in a hostile request) are kept as text
// every store takes; the entries after it are written as usual (PostgreSQL refuses both raw).
TEST_P(StoreAuditLogTest, NulAndBadUtf8AreStoredAsTextAndDoNotBlockTheLog) {
  StoreAuditLog& log = open_log(slow_timer());
  AuditEntry hostile = entry(0);
  hostile.resource = std::string("arn:x") + '\0' + "y\xff\xfe" + "z\xc3\xa9";
  log.record(hostile);
  log.record(entry(1));
  engine::Status flushed = log.flush();
  ASSERT_TRUE(flushed.ok()) << describe(flushed);
  std::vector<AuditEntry> all = stored();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].resource, "arn:x\\u0000y\xEF\xBF\xBD\xEF\xBF\xBDz\xc3\xa9");
  EXPECT_EQ(all[0].request_id, "req-1");
  EXPECT_TRUE(reports().empty());
}

}  // namespace
}  // namespace stepd::server
